// camward UI — every English string shown to people, and the field description table.
// A translation is a copy of this module with the same keys; nothing else holds text.

export const S = {
  lang: 'en',
  app: 'camward',
  skip: 'Skip to content',
  loading: 'Loading…',
  levels: { admin: '1. Administrator', control: '2. Camera control', live: '3. Live only' },
  guest: 'guest',
  signedInAs: (user, level) => `${user} — ${level}`,

  menu: {
    label: 'Main menu',
    live: 'Live',
    setup: 'Setup',
    groups: {
      basic: 'Basic',
      image: 'Image/Audio',
      alarm: 'Alarm',
      users: 'User mng.',
      network: 'Network',
      advanced: 'Advanced',
      maintenance: 'Maintenance',
    },
  },

  pages: {
    basic: 'Basic',
    sd: 'SD memory card',
    log: 'Log',
    image: 'Image',
    quality: 'Image quality',
    alarm: 'Alarm',
    vmd: 'VMD area',
    notification: 'Notification',
    user_auth: 'User auth.',
    host_auth: 'Host auth.',
    ieee8021x: 'IEEE 802.1X',
    data_encryption: 'Data encryption',
    network: 'Network',
    smtp: 'SMTP(E-mail)',
    ftp: 'FTP',
    ntp: 'NTP',
    upnp: 'UPnP',
    https: 'HTTPS',
    ddns: 'DDNS',
    snmp: 'SNMP',
    qos: 'QoS',
    upgrade: 'Upgrade',
    status: 'Status',
    reset: 'Default reset',
  },

  // Titles of the forms of a page (one per configuration section).
  forms: {
    source: 'Video source',
    recording: 'SD memory card (recording)',
    alteration_detection: 'Alteration detection',
    streams: 'Stream',
    jpeg: 'JPEG',
    alarm: 'Alarm',
    'alarm.vmd': 'VMD area',
    notification: 'Notification',
    user_auth: 'User auth.',
    host_auth: 'Host auth.',
    ieee8021x: 'IEEE 802.1X',
    data_encryption: 'Data encryption',
    network: 'Network',
    easy_ip: 'Easy IP Setup',
    ftp_server: 'FTP access to camera',
    smtp: 'SMTP(E-mail)',
    ftp_client: 'FTP',
    ntp: 'NTP',
    upnp: 'UPnP',
    https: 'HTTPS',
    certificate: 'Installed certificate',
    ddns: 'DDNS',
    snmp: 'SNMP',
    qos: 'QoS',
    firmware: 'Upgrade',
  },

  common: {
    set: 'Set',
    saved: 'Settings saved.',
    noChanges: 'Nothing was changed.',
    notAvailable: 'This function is not available in this version.',
    failed: 'The settings were not saved:',
    network: 'The camera could not be reached. Check the connection and try again.',
    on: 'On',
    off: 'Off',
    secretSet: 'set — leave empty to keep',
    secretUnset: 'not set',
    listHint: 'One entry per line.',
    jsonHint: 'JSON value.',
    jsonInvalid: 'This is not valid JSON.',
    numberInvalid: 'Enter a number.',
    forbidden: 'Your access level does not include this.',
    unauthorized: 'Your login was not accepted. Reload the page to log in again.',
    error: (status, msg) => `The camera answered ${status}: ${msg}`,
  },

  live: {
    title: 'Live',
    stream: 'Stream',
    streams: { 1: 'Stream(1)', 2: 'Stream(2)' },
    imageAlt: (n) => `Live image of Stream(${n})`,
    snapshot: 'Snapshot',
    snapshotHint: 'Downloads one JPEG picture of the selected stream.',
    fullscreen: 'Full screen',
    unavailable: 'Live video is not available: the camera did not send a picture for this stream.',
    alarm: 'Alarm',
    alarmActive: 'Alarm!',
    alarmIdle: 'No alarm.',
    alarmNone: 'No alarm source configured.',
  },

  register: {
    title: 'Register the administrator',
    intro: 'This camera has no account yet. Create the administrator account: there is no default password.',
    code: 'Setup code',
    codeHint: 'Shown on the camera\'s console when it starts, and kept in the file setup-code of its data directory (XXXX-XXXX-XXXX).',
    codeWrong: 'This is not the camera\'s setup code.',
    username: 'User name (1 to 32 characters)',
    password: 'Password (8 to 32 characters)',
    retype: 'Retype password',
    submit: 'Register',
    rulesTitle: 'Rules',
    met: 'met',
    notMet: 'not met',
    checkedByCamera: 'checked by the camera',
    mismatch: 'The two passwords differ.',
    done: 'The administrator is registered.',
    next: 'Continue to Live — your browser will ask for the new user name and password.',
    already: 'An administrator already exists.',
    toLive: 'Go to Live',
  },

  // One line per rule of the paper's User auth. screen; the ids are the API's `rule` values.
  rules: {
    'username.length': 'User name: 1 to 32 characters.',
    'username.charset': 'User name: 1-byte printable characters only (no 2-byte characters).',
    'username.forbidden_char': 'User name: none of " & ; \\ :',
    'username.whitespace': 'User name: no space at the beginning or the end.',
    'password.length': 'Password: 8 to 32 characters.',
    'password.charset': 'Password: 1-byte printable characters only (no 2-byte characters).',
    'password.forbidden_char': 'Password: none of " &',
    'password.classes': 'Password: at least two kinds of characters — letters, digits, symbols.',
    'password.equals_username': 'Password: not the same as the user name.',
    'password.common': 'Password: not a commonly used password.',
    'password.retype': 'Both passwords are the same.',
  },

  users: {
    title: 'User name registration',
    list: 'Registered users',
    name: 'User name',
    level: 'Access level',
    created: 'Registered',
    remove: (u) => `Delete ${u}`,
    confirmRemove: (u) => `Delete the user ${u}?`,
    add: 'Register',
    newUser: 'New user',
    username: 'User name (1 to 32 characters)',
    password: 'Password (8 to 32 characters)',
    retype: 'Retype password',
    added: (u) => `User ${u} registered.`,
    removed: (u) => `User ${u} deleted.`,
  },

  log: {
    time: 'Time',
    kind: 'Event',
    actor: 'User',
    address: 'Address',
    detail: 'Detail',
    empty: 'The log is empty.',
    older: 'Older entries',
  },

  status: {
    product: 'Product',
    version: 'Version',
    serial: 'Serial number',
    uptime: 'Up time',
    user: 'Signed in as',
    warnings: 'Settings that weaken security',
    noWarnings: 'No setting weakens security.',
    seconds: (s) => `${s} s`,
    unknown: 'unknown',
  },

  reset: {
    intro: 'Restores every setting to its default value. User accounts are kept.',
    button: 'Reset settings to defaults',
    confirm: 'Restore every setting to its default? Host auth., HTTPS and all other settings return to their defaults.',
    done: 'All settings are back to their defaults.',
  },
};

// Field descriptions, keyed by the setting's path in the configuration document.
// type: onoff | number | text | select | list | secret | size | json; options: [value, label] pairs.
// Settings without an entry are still shown, with a label made from their key and a control
// chosen from their value's type, so a new section is editable before it gets its entry here.
const SIZES = [['1920x1080', '1920x1080'], ['1280x720', '1280x720'], ['640x360', '640x360'], ['320x180', '320x180']];
const QUALITY = Array.from({ length: 10 }, (_, i) => [i, i === 0 ? '0 Super fine' : i === 5 ? '5 Normal' : i === 9 ? '9 Low' : String(i)]);

function streamFields(n) {
  const p = `streams.stream${n}`;
  return {
    [p]: { label: `Stream(${n})` },
    [`${p}.enabled`]: { label: 'Stream transmission', type: 'onoff' },
    [`${p}.width`]: { label: 'Image capture size', type: 'size', options: SIZES, pair: 'height' },
    [`${p}.height`]: { hidden: true },
    [`${p}.fps`]: { label: 'Frame rate (1–30 fps)', type: 'number', min: 1, max: 30 },
    [`${p}.bitrate_kbps`]: { label: 'Bit rate (64–16384 kbps)', type: 'number', min: 64, max: 16384 },
    [`${p}.gop`]: { label: 'Refresh interval (1–300 frames)', type: 'number', min: 1, max: 300 },
    [`${p}.internet_mode`]: { label: 'Internet mode (over HTTP)', type: 'onoff' },
  };
}

function jpegFields(n) {
  const p = `jpeg.jpeg${n}`;
  return {
    [p]: { label: `JPEG(${n})` },
    [`${p}.width`]: { label: 'Image capture size', type: 'size', options: SIZES, pair: 'height' },
    [`${p}.height`]: { hidden: true },
    [`${p}.quality`]: { label: 'Image quality', type: 'select', options: QUALITY },
  };
}

export const FIELDS = {
  source: { label: 'Source (testsrc, file:PATH, rtsp://…, v4l2:/dev/videoN)', type: 'text' },
  ...streamFields(1),
  ...streamFields(2),
  ...jpegFields(1),
  ...jpegFields(2),
  ...jpegFields(3),
  'jpeg.refresh_fps': { label: 'Refresh interval (JPEG, 1–30 fps)', type: 'number', min: 1, max: 30 },

  'user_auth.enabled': { label: 'User auth.', type: 'onoff' },
  'user_auth.guest': { label: 'Guest user (live view without login)', type: 'onoff' },
  'user_auth.method': {
    label: 'Authentication',
    type: 'select',
    options: [['digest', 'Digest'], ['digest_or_basic', 'Digest or Basic']],
  },
  'host_auth.enabled': { label: 'Host auth.', type: 'onoff' },
  'host_auth.allow': {
    label: 'Allowed IP addresses and networks (e.g. 192.168.0.100, 192.168.0.0/24, 2001:db8::/32)',
    type: 'list',
  },

  'https.connection': {
    label: 'Connection',
    type: 'select',
    options: [['http', 'HTTP'], ['https', 'HTTPS']],
  },
  'alteration_detection.enabled': { label: 'Additional info for detection alteration', type: 'onoff' },
  'data_encryption.enabled': { label: 'Data encryption', type: 'onoff' },
  'snmp.version': {
    label: 'SNMP version',
    type: 'select',
    options: [['v1', 'SNMPv1'], ['v2c', 'SNMPv2c'], ['v3', 'SNMPv3']],
  },
};

// Turns a key like `bitrate_kbps` into `Bitrate kbps` for settings without an entry above.
export function humanize(key) {
  const s = String(key).replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}
