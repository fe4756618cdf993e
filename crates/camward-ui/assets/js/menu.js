// camward UI — the Setup menu tree of the paper and what each page shows.
// `forms` name configuration sections (paths in GET /api/v1/config); a page none of whose sections
// exist says "not available in this version". `info` sections are shown read-only; `kind` pages
// show something other than a form.

export const MENU = [
  { group: 'basic', pages: [
    { id: 'basic', forms: ['source'] },
    // The paper opens Alteration detection as a window of the SD memory card tab.
    { id: 'sd', forms: ['recording', 'alteration_detection'] },
    { id: 'log', kind: 'log' },
  ] },
  { group: 'image', pages: [
    { id: 'image', forms: ['streams'] },
    { id: 'quality', forms: ['jpeg'] },
  ] },
  { group: 'alarm', pages: [
    { id: 'alarm', forms: ['alarm'] },
    { id: 'vmd', forms: ['alarm.vmd'] },
    { id: 'notification', forms: ['notification'] },
  ] },
  { group: 'users', pages: [
    { id: 'user_auth', forms: ['user_auth'], kind: 'users' },
    { id: 'host_auth', forms: ['host_auth'] },
    { id: 'ieee8021x', forms: ['ieee8021x'] },
    { id: 'data_encryption', forms: ['data_encryption'] },
  ] },
  { group: 'network', pages: [
    { id: 'network', forms: ['network', 'easy_ip', 'ftp_server'] },
  ] },
  { group: 'advanced', pages: [
    { id: 'smtp', forms: ['smtp'] },
    { id: 'ftp', forms: ['ftp_client'] },
    { id: 'ntp', forms: ['ntp'] },
    { id: 'upnp', forms: ['upnp'] },
    // `certificate` is the installed certificate's facts, shown read-only beside the form.
    { id: 'https', forms: ['https'], info: ['certificate'] },
    { id: 'ddns', forms: ['ddns'] },
    { id: 'snmp', forms: ['snmp'] },
    { id: 'qos', forms: ['qos'] },
  ] },
  { group: 'maintenance', pages: [
    { id: 'upgrade', kind: 'upgrade' },
    { id: 'status', kind: 'status' },
    { id: 'reset', kind: 'reset' },
  ] },
];

export function findPage(id) {
  for (const g of MENU) {
    for (const p of g.pages) {
      if (p.id === id) return { group: g.group, ...p };
    }
  }
  return null;
}
