/**
 * Image names and the os/arch/profile tokens that end up in paths and queries (SPEC §3.1, §9).
 * One character rule for all of them: 1–128 of [A-Za-z0-9._+-], never "." or "..", so a value
 * can be used as a single path segment and as an xCAT key without escaping.
 */
import { isValidImageName, MAX_NAME_LENGTH } from '@imgport/contract/names';
import { ImgportError, type ErrorCode } from '@imgport/runtime';
import { quote } from './util.js';

export { isValidImageName, MAX_NAME_LENGTH };

const ALLOWED = /^[A-Za-z0-9._+-]$/;
const ALLOWED_TEXT = 'letters, digits, ".", "_", "+", "-"';

/** What is wrong with `value` under the contract's name rule, or undefined when it is fine. */
function nameProblem(value: string): string | undefined {
  if (isValidImageName(value)) return undefined;
  if (value.length === 0) return 'is empty';
  if (value.length > MAX_NAME_LENGTH) {
    return `is ${value.length} characters long (at most ${MAX_NAME_LENGTH})`;
  }
  if (value === '.' || value === '..') return 'is reserved (it names a directory)';
  const chars = [...value];
  const bad = chars.findIndex((c) => !ALLOWED.test(c));
  if (bad >= 0) {
    return `contains ${JSON.stringify(chars[bad])} at position ${bad + 1} (allowed: ${ALLOWED_TEXT})`;
  }
  return 'does not follow the name rule';
}

function fail(code: ErrorCode, what: string, value: string, problem: string, where?: string): never {
  const prefix = where ? `${where}: ` : '';
  throw new ImgportError(code, `${prefix}invalid ${what} ${quote(value)}: ${problem}`, where ? { where } : undefined);
}

/**
 * Returns `name` when it is a valid osimage name, else throws (MANIFEST_INVALID unless the caller
 * passes another code, e.g. BAD_REQUEST for a name given on the command line). `where` says where
 * the name came from ("manifest.cfg line 2", "--name").
 */
export function validateImageName(name: string, where?: string, code: ErrorCode = 'MANIFEST_INVALID'): string {
  const problem = nameProblem(name);
  if (problem) fail(code, 'image name', name, problem, where);
  return name;
}

/** Same rule for an os, arch, profile or platform token used as a path segment. */
export function validatePathToken(value: string, what: string, where?: string, code: ErrorCode = 'MANIFEST_INVALID'): string {
  const problem = nameProblem(value);
  if (problem) fail(code, what, value, problem, where);
  return value;
}

/** xCAT's `imgimport -f` naming: `<os>-<arch>-<method>-<profile>` (imgport.pm change_profile). */
export function reprofiledName(os: string, arch: string, method: string, profile: string): string {
  validatePathToken(os, 'os');
  validatePathToken(arch, 'arch');
  validatePathToken(method, 'method');
  validatePathToken(profile, 'profile');
  return validateImageName(`${os}-${arch}-${method}-${profile}`, 're-profiled name');
}
