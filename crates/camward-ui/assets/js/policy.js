// camward UI — the paper's user name and password rules, checked as the user types.
// Mirrors camward-auth's policy with the same rule ids; the camera still checks everything itself
// (and alone knows the list of common passwords).

const printable = (s) => /^[\x20-\x7e]*$/.test(s);

export function checkUsername(name) {
  const out = [];
  const n = [...name].length;
  if (n < 1 || n > 32) out.push('username.length');
  if (!printable(name)) out.push('username.charset');
  if (/["&;\\:]/.test(name)) out.push('username.forbidden_char');
  if (/^ | $/.test(name)) out.push('username.whitespace');
  return out;
}

export function checkPassword(username, pw) {
  const out = [];
  const n = [...pw].length;
  if (n < 8 || n > 32) out.push('password.length');
  if (!printable(pw)) out.push('password.charset');
  if (/["&]/.test(pw)) out.push('password.forbidden_char');
  const classes = [/[A-Za-z]/.test(pw), /[0-9]/.test(pw), /[\x20-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]/.test(pw)];
  if (classes.filter(Boolean).length < 2) out.push('password.classes');
  if (username !== '' && pw === username) out.push('password.equals_username');
  return out;
}

// Rules shown on the registration page, in the order of the paper's note.
export const RULES = [
  'username.length', 'username.charset', 'username.forbidden_char', 'username.whitespace',
  'password.length', 'password.charset', 'password.forbidden_char', 'password.classes',
  'password.equals_username', 'password.common', 'password.retype',
];
// Rules only the camera can check.
export const SERVER_ONLY = new Set(['password.common']);
