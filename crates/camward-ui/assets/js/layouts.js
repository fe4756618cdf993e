// camward UI — the Setup menu and every page's layout: which settings a page shows, in which
// order and groups (the paper's screens), which fields depend on a switch, and which need a
// special control. Labels, descriptions, units, ranges and choices are NOT here: they come from
// the settings' JSON Schema, so a setting is described once, in crates/camward-config.
//
// Adding a page for a new function (SNMP, 802.1X, NTP, UPnP, …) is one entry in PAGES:
//   { id: 'snmp', group: 'advanced', forms: [{ section: 'snmp', items: [...] }] }
// plus its id in SETUP_PAGES (crates/camward-ui/src/lib.rs) and its title in strings.js.
// A page appears in the menu only when the camera has what it needs: a form's `section` in the
// settings schema, or `requires.api` in the OpenAPI document; otherwise it is hidden, never a
// dead end. Without `items` a form shows every setting of its section in schema order.
//
// Items: 'path' | { path, when, widget, placed } | { group, items, when }.
//   when:   a switch path (the item is disabled while it is off) or { path, is: value | [values] }
//   widget: 'size' (width × height), 'source', 'rows' (list of objects), 'vmdAreas' (vmd.js)
//   group:  a fieldset; its legend is S.groups[group]
// Page kinds add what a form cannot show (pages.js: PAGE_KINDS).

export const GROUPS = ['basic', 'image', 'alarm', 'users', 'network', 'advanced', 'maintenance'];

const stream = (n) => {
  const p = `streams.stream${n}`;
  const on = `${p}.enabled`;
  return {
    group: `stream${n}`,
    items: [
      on,
      { path: `${p}.internet_mode`, when: on },
      { path: `${p}.width`, widget: 'size', placed: [`${p}.height`], when: on },
      { path: `${p}.fps`, when: on },
      { path: `${p}.bitrate_kbps`, when: on },
      { path: `${p}.gop`, when: on },
    ],
  };
};

const jpeg = (n) => ({
  group: `jpeg${n}`,
  items: [
    { path: `jpeg.jpeg${n}.width`, widget: 'size', placed: [`jpeg.jpeg${n}.height`] },
    `jpeg.jpeg${n}.quality`,
  ],
});

const terminal = (n) => ({
  group: `terminal${n}`,
  items: [`alarm.terminal${n}.enabled`, { path: `alarm.terminal${n}.trigger`, when: `alarm.terminal${n}.enabled` }],
});

export const PAGES = [
  // Basic
  { id: 'basic', group: 'basic', kind: 'basic', forms: [{ section: 'source', items: [{ path: 'source', widget: 'source' }] }] },
  {
    id: 'sd', group: 'basic', kind: 'sd',
    forms: [
      {
        section: 'recording', heading: 'recording',
        items: [
          'recording.enabled',
          { path: 'recording.streams', when: 'recording.enabled' },
          { path: 'recording.continuous', when: 'recording.enabled' },
          {
            group: 'retention', when: 'recording.enabled',
            items: ['recording.file_seconds', 'recording.file_max_bytes', 'recording.quota_bytes', 'recording.min_free_bytes', 'recording.directory'],
          },
        ],
      },
      // The paper opens Alteration detection as a window of the SD memory card tab.
      { section: 'alteration_detection', items: ['alteration_detection.enabled'] },
    ],
  },
  // Recorder mode: upstream RTSP cameras recorded beside this device's streams (paper §3.8, §3.9).
  { id: 'cameras', group: 'basic', forms: [{ section: 'cameras', items: [{ path: 'cameras.cameras', widget: 'rows' }] }] },
  { id: 'log', group: 'basic', kind: 'log' },
  {
    // Object storage (paper §3.8): closed recordings move to an S3 bucket, still encrypted; every
    // setting but the switch matters only while it is on.
    id: 'storage', group: 'basic',
    forms: [{
      section: 'storage',
      items: [
        'storage.object.enabled',
        {
          group: 'objectstore', when: 'storage.object.enabled',
          items: [
            'storage.object.endpoint', 'storage.object.bucket', 'storage.object.region',
            'storage.object.prefix', 'storage.object.path_style',
            'storage.object.access_key_id', 'storage.object.secret_access_key',
            'storage.object.ca_certificate', 'storage.object.retention_days',
          ],
        },
      ],
    }],
  },

  // Image/Audio
  { id: 'image', group: 'image', forms: [{ section: 'streams', items: [stream(1), stream(2)] }] },
  {
    id: 'quality', group: 'image',
    forms: [{ section: 'jpeg', items: [{ group: 'live', items: ['jpeg.refresh_fps'] }, jpeg(1), jpeg(2), jpeg(3)] }],
  },

  // Alarm
  {
    id: 'alarm', group: 'alarm',
    forms: [{
      section: 'alarm', id: 'alarm', rest: false,
      items: [
        terminal(1), terminal(2), terminal(3),
        { group: 'command', title: 'alarm.command', items: ['alarm.command.enabled'] },
        {
          group: 'alarmRecording',
          items: [
            'alarm.recording.enabled',
            { path: 'alarm.recording.triggers', when: 'alarm.recording.enabled' },
            { path: 'alarm.recording.stream', when: 'alarm.recording.enabled' },
            { path: 'alarm.recording.pre_seconds', when: 'alarm.recording.enabled' },
            { path: 'alarm.recording.post_seconds', when: 'alarm.recording.enabled' },
          ],
        },
      ],
    }],
  },
  {
    id: 'vmd', group: 'alarm',
    forms: [{
      section: 'alarm.vmd', id: 'vmd',
      items: [
        'alarm.vmd.enabled',
        { path: 'alarm.vmd.stream', when: 'alarm.vmd.enabled' },
        { path: 'alarm.vmd.cooldown_seconds', when: 'alarm.vmd.enabled' },
        { path: 'alarm.vmd.areas', widget: 'vmdAreas' },
      ],
    }],
  },

  // User mng.
  { id: 'user_auth', group: 'users', kind: 'users', forms: [{ section: 'user_auth', items: ['user_auth.enabled', 'user_auth.guest', 'user_auth.method', 'user_auth.password_change_days'] }] },
  { id: 'host_auth', group: 'users', forms: [{ section: 'host_auth', items: ['host_auth.enabled', 'host_auth.allow'] }] },
  {
    // Every field stays editable while 802.1X is off: an installer fills them in, then switches on
    // (the camera refuses to switch on what it cannot run, beside the field at fault).
    id: 'ieee8021x', group: 'users', kind: 'dot1x',
    forms: [{
      section: 'dot1x',
      items: [
        'dot1x.enabled',
        'dot1x.interface',
        {
          group: 'eap',
          items: [
            'dot1x.method',
            'dot1x.identity',
            { path: 'dot1x.anonymous_identity', when: { path: 'dot1x.method', is: 'peap' } },
            { path: 'dot1x.password', when: { path: 'dot1x.method', is: ['md5', 'peap'] } },
          ],
        },
        {
          group: 'certificates',
          items: [
            { path: 'dot1x.ca_certificate', when: { path: 'dot1x.method', is: ['peap', 'tls'] } },
            { path: 'dot1x.client_certificate', when: { path: 'dot1x.method', is: 'tls' } },
          ],
        },
        'dot1x.reauth_period',
      ],
    }],
  },
  {
    id: 'data_encryption', group: 'users',
    forms: [{ section: 'data_encryption', items: ['data_encryption.enabled', 'data_encryption.recipients'] }],
  },

  // Network
  {
    id: 'network', group: 'network', kind: 'network',
    forms: [{
      // "Easy IP Setup accommodate period" of the paper's Network screen (§4.5).
      section: 'discovery',
      items: ['discovery.accommodate_period', 'discovery.location'],
    }, {
      section: 'ftp_server',
      items: [
        'ftp_server.enabled',
        { path: 'ftp_server.port', when: 'ftp_server.enabled' },
        { path: 'ftp_server.ftps_required', when: 'ftp_server.enabled' },
        { group: 'ports', when: 'ftp_server.enabled', items: ['ftp_server.passive_port_min', 'ftp_server.passive_port_max'] },
      ],
    }],
  },
  {
    id: 'smtp', group: 'advanced',
    forms: [{
      section: 'smtp',
      items: [
        'smtp.enabled',
        {
          group: 'server', when: 'smtp.enabled',
          items: ['smtp.server', 'smtp.port', 'smtp.security', 'smtp.ca_certificate'],
        },
        { group: 'login', when: 'smtp.enabled', items: ['smtp.username', 'smtp.password'] },
        {
          group: 'mail', when: 'smtp.enabled',
          items: ['smtp.sender', 'smtp.attach_image', { path: 'smtp.image_size', when: 'smtp.attach_image' }, { path: 'smtp.destinations', widget: 'rows' }],
        },
      ],
    }],
  },
  {
    id: 'ftp', group: 'advanced',
    forms: [{
      section: 'ftp_client',
      items: [
        'ftp_client.enabled',
        {
          group: 'server', when: 'ftp_client.enabled',
          items: ['ftp_client.server', 'ftp_client.port', 'ftp_client.tls', 'ftp_client.ca_certificate', 'ftp_client.passive', 'ftp_client.username', 'ftp_client.password'],
        },
        {
          group: 'transfer', when: 'ftp_client.enabled',
          items: ['ftp_client.retry', { path: 'ftp_client.retry_limit', when: 'ftp_client.retry' }],
        },
        {
          group: 'alarmImages', when: 'ftp_client.enabled',
          items: [
            'ftp_client.alarm.enabled',
            {
              group: 'alarmImagesSettings', when: 'ftp_client.alarm.enabled',
              items: [
                'ftp_client.alarm.directory', 'ftp_client.alarm.file_name', 'ftp_client.alarm.alarms',
                { group: 'preAlarm', items: ['ftp_client.alarm.pre_alarm.interval_ms', 'ftp_client.alarm.pre_alarm.images'] },
                { group: 'postAlarm', items: ['ftp_client.alarm.post_alarm.interval_ms', 'ftp_client.alarm.post_alarm.images'] },
                'ftp_client.alarm.image_size',
              ],
            },
          ],
        },
        {
          group: 'periodic', when: 'ftp_client.enabled',
          items: [
            'ftp_client.periodic.enabled',
            {
              group: 'periodicSettings', when: 'ftp_client.periodic.enabled',
              items: ['ftp_client.periodic.directory', 'ftp_client.periodic.file_name', 'ftp_client.periodic.with_date_time', 'ftp_client.periodic.interval_seconds', 'ftp_client.periodic.image_size'],
            },
          ],
        },
      ],
    }],
  },
  {
    // The paper's NTP tab: time zone, manual time or NTP servers (NTS per server). The state (sync,
    // offset, per-server errors) is on the Status page.
    id: 'ntp', group: 'advanced',
    forms: [{
      section: 'time',
      items: [
        'time.mode',
        'time.timezone',
        { path: 'time.servers', widget: 'rows', when: { path: 'time.mode', is: 'ntp' } },
        { path: 'time.poll_interval_secs', when: { path: 'time.mode', is: 'ntp' } },
        { path: 'time.timeout_ms', when: { path: 'time.mode', is: 'ntp' } },
      ],
    }],
  },
  {
    // The paper's UPnP screen (§4.1): one switch; what is forwarded and how only matter while it is on.
    id: 'upnp', group: 'advanced',
    forms: [{
      section: 'upnp',
      items: [
        'upnp.auto_port_forwarding',
        {
          group: 'forwarded', when: 'upnp.auto_port_forwarding',
          items: [
            'upnp.forward_https', { path: 'upnp.https_external_port', when: 'upnp.forward_https' },
            'upnp.forward_http', { path: 'upnp.http_external_port', when: 'upnp.forward_http' },
            'upnp.forward_rtsp', { path: 'upnp.rtsp_external_port', when: 'upnp.forward_rtsp' },
          ],
        },
        { path: 'upnp.lease_secs', when: 'upnp.auto_port_forwarding' },
      ],
    }],
  },
  { id: 'https', group: 'advanced', kind: 'https', forms: [{ section: 'https', items: ['https.connection', 'https.port'] }] },
  {
    // Paper §4.7: SNMPv3 always offered; v1/v2c (community in clear) only when switched on.
    id: 'snmp', group: 'advanced',
    forms: [{
      section: 'snmp',
      items: [
        'snmp.enabled',
        { path: 'snmp.port', when: 'snmp.enabled' },
        { path: 'snmp.users', widget: 'rows', when: 'snmp.enabled' },
        { path: 'snmp.min_security_level', when: 'snmp.enabled' },
        { path: 'snmp.v1v2c', when: 'snmp.enabled' },
        { path: 'snmp.community', when: 'snmp.v1v2c' },
        { path: 'snmp.system_name', when: 'snmp.enabled' },
        { path: 'snmp.location', when: 'snmp.enabled' },
        { path: 'snmp.contact', when: 'snmp.enabled' },
        { path: 'snmp.trap_destinations', widget: 'rows', when: 'snmp.enabled' },
      ],
    }],
  },

  // Maintenance
  { id: 'status', group: 'maintenance', kind: 'status' },
  { id: 'upgrade', group: 'maintenance', kind: 'upgrade', requires: { api: '/api/v1/firmware' } },
  { id: 'backup', group: 'maintenance', kind: 'backup' },
  { id: 'reset', group: 'maintenance', kind: 'reset' },
];

export function findPage(id) {
  return PAGES.find((p) => p.id === id) || null;
}

// Whether the camera has what page `p` needs: a form's section in the schema, or an API path.
export function available(p, schema, apiPaths) {
  if (p.requires && p.requires.api && !(apiPaths && apiPaths.has(p.requires.api))) return false;
  if (!p.forms || !p.forms.length) return true;
  return p.forms.some((f) => schema && schema.has(f.section.split('.')[0]));
}
