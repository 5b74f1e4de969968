import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import {
  customPlacement,
  isBelow,
  isInside,
  isRootMemberName,
  fromBundlePath,
  mapPathList,
  toBundlePath,
  normalizeAbsolutePath,
  normalizeDestDir,
  normalizeFileMember,
  normalizeMemberName,
  rebaseOrigin,
  resolveExtraDest,
  xcatPlatform,
} from './paths.js';

function rejects(fn: () => unknown, code: string, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ImgportError, `expected ImgportError, got ${String(err)}`);
    assert.equal(err.code, code);
    for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${f}`);
    return true;
  });
}

test('normalizeMemberName strips ./, collapses // and inner .', () => {
  const got = ['./kernel', 'a//b/./c', 'dir/', './x/./y//', '..foo', 'a/..b'].map((n) => normalizeMemberName(n));
  assert.deepEqual(got, ['kernel', 'a/b/c', 'dir', 'x/y', '..foo', 'a/..b']);
});

test('normalizeMemberName rejects ".." components, naming the path', () => {
  rejects(() => normalizeMemberName('../etc/passwd'), 'UNSAFE_PATH', '"../etc/passwd"', '".."');
  rejects(() => normalizeMemberName('a/../../b'), 'UNSAFE_PATH', '"a/../../b"');
  rejects(() => normalizeMemberName('a/..'), 'UNSAFE_PATH', '"a/.."');
});

test('normalizeMemberName rejects absolute names', () => {
  rejects(() => normalizeMemberName('/etc/passwd'), 'UNSAFE_PATH', '"/etc/passwd"', 'absolute');
  rejects(() => normalizeMemberName('//x'), 'UNSAFE_PATH', '"//x"', 'absolute');
});

test('normalizeMemberName rejects NUL bytes and empty names', () => {
  rejects(() => normalizeMemberName('a\0b'), 'UNSAFE_PATH', '"a\\u0000b"', 'NUL');
  rejects(() => normalizeMemberName('/a\0b'), 'UNSAFE_PATH', 'NUL');
  rejects(() => normalizeMemberName(''), 'UNSAFE_PATH', '""', 'empty');
  rejects(() => normalizeMemberName('././/'), 'UNSAFE_PATH', '"././/"', 'empty');
});

test('normalizeMemberName enforces the path length limit in UTF-8 bytes', () => {
  assert.equal(normalizeMemberName('a'.repeat(10), 10), 'a'.repeat(10));
  rejects(() => normalizeMemberName('é'.repeat(6), 10), 'LIMIT_EXCEEDED', '12 bytes', 'limit 10');
  const long = 'x'.repeat(5000);
  rejects(() => normalizeMemberName(long), 'LIMIT_EXCEEDED', '5000 bytes', 'limit 4096', 'xxx…');
});

test('normalizeFileMember refuses the bundle\'s own names', () => {
  assert.equal(normalizeFileMember('./boot/kernel'), 'boot/kernel');
  for (const name of ['manifest.cfg', './manifest.xml', 'SHA256SUMS', 'extra/']) {
    rejects(() => normalizeFileMember(name), 'UNSAFE_PATH', JSON.stringify(name), 'reserved');
  }
  rejects(() => normalizeFileMember('../x'), 'UNSAFE_PATH', '"../x"');
});

test('normalizeAbsolutePath and normalizeDestDir', () => {
  assert.equal(normalizeAbsolutePath('/install//netboot/./x/'), '/install/netboot/x');
  assert.equal(normalizeAbsolutePath('/'), '/');
  rejects(() => normalizeAbsolutePath('install/x'), 'UNSAFE_PATH', '"install/x"', 'absolute');
  rejects(() => normalizeAbsolutePath('/install/../etc'), 'UNSAFE_PATH', '"/install/../etc"', '".."');
  assert.deepEqual(
    ['/install/postscripts/', 'custom//files', '.', './'].map(normalizeDestDir),
    ['/install/postscripts', 'custom/files', '.', '.'],
  );
  rejects(() => normalizeDestDir(''), 'UNSAFE_PATH', 'empty');
  rejects(() => normalizeDestDir('a/../..'), 'UNSAFE_PATH', '"a/../.."');
});

test('isInside compares normalised segments, without I/O', () => {
  const cases: Array<[string, string, boolean]> = [
    ['/install', '/install', true],
    ['/install', '/install/netboot/x', true],
    ['/install/', '/install//netboot', true],
    ['/install', '/installer/x', false],
    ['/install', '/install/../etc', false],
    ['/install', '/etc', false],
    ['/', '/anything', true],
    ['/install', 'install/x', false],
    ['rootimg', 'rootimg/bin', true],
    ['rootimg', 'rootimg/../x', false],
    ['.', 'a/b', true],
    ['.', '../a', false],
    ['/install', '/install/a\0b', false],
  ];
  assert.deepEqual(
    cases.map(([r, p]) => isInside(r, p)),
    cases.map(([, , want]) => want),
  );
});

test('isBelow is isInside without the root itself; a name starting with ".." is a name', () => {
  const cases: Array<[string, string, boolean]> = [
    ['/install', '/install', false],
    ['/install', '/install/', false],
    ['/install', '/install/netboot', true],
    ['/install', '/install/..foo', true],
    ['/install', '/install/../install-old', false],
    ['/install', '/installer', false],
    ['/', '/', false],
    ['/', '/etc', true],
  ];
  assert.deepEqual(
    cases.map(([r, p]) => isBelow(r, p)),
    cases.map(([, , want]) => want),
  );
});

test('rebaseOrigin maps from-root paths, keeps allow-listed ones, reports the rest', () => {
  const opts = { installRoot: '/srv/xcat', allow: ['/opt/site'] };
  assert.deepEqual(rebaseOrigin('/install/netboot/rh/kernel', opts), { kind: 'rebased', path: '/srv/xcat/netboot/rh/kernel' });
  assert.deepEqual(rebaseOrigin('/install', opts), { kind: 'rebased', path: '/srv/xcat' });
  assert.deepEqual(rebaseOrigin('/opt/site/files/a', opts), { kind: 'allowed', path: '/opt/site/files/a' });
  assert.deepEqual(rebaseOrigin('/opt/xcat/share/xcat/netboot/rh/x.pkglist', opts), { kind: 'outside' });
  assert.deepEqual(rebaseOrigin('/installer/x', opts), { kind: 'outside' });
  assert.deepEqual(rebaseOrigin('/data/install/k', { ...opts, fromRoot: '/data/install/' }), {
    kind: 'rebased',
    path: '/srv/xcat/k',
  });
});

test('rebaseOrigin refuses ".." and relative origins', () => {
  rejects(() => rebaseOrigin('/install/../etc/shadow', { installRoot: '/i' }), 'UNSAFE_PATH', '"/install/../etc/shadow"');
  rejects(() => rebaseOrigin('netboot/kernel', { installRoot: '/i' }), 'UNSAFE_PATH', '"netboot/kernel"');
});

test('resolveExtraDest: relative under the install root, absolute rebased or allowed', () => {
  const opts = { installRoot: '/srv/xcat', allow: ['/opt/site'] };
  assert.deepEqual(
    ['postscripts', '.', '/install/postscripts', '/opt/site/bin'].map((d) => resolveExtraDest(d, opts)),
    ['/srv/xcat/postscripts', '/srv/xcat', '/srv/xcat/postscripts', '/opt/site/bin'],
  );
});

test('resolveExtraDest refuses destinations outside the install root, naming them', () => {
  const opts = { installRoot: '/srv/xcat' };
  rejects(() => resolveExtraDest('/etc/cron.d', opts), 'UNSAFE_PATH', '"/etc/cron.d"', 'outside the install root (/install)');
  rejects(() => resolveExtraDest('../etc', opts), 'UNSAFE_PATH', '"../etc"');
  rejects(() => resolveExtraDest('/install/../etc', opts), 'UNSAFE_PATH', '"/install/../etc"');
});

test('xcatPlatform follows xCAT getplatform and its share directories, and is idempotent', () => {
  const oses = ['rhels8.5.0', 'rhel9', 'centos7.9', 'rocky9.3', 'alma8.8', 'ol8.6', 'fedora38', 'sles15.4', 'SL7', 'ubuntu22.04', 'debian12', 'win2019', 'openEuler22'];
  assert.deepEqual(oses.map(xcatPlatform), ['rh', 'rh', 'centos', 'rocky', 'alma', 'ol', 'fedora', 'sles', 'SL', 'ubuntu', 'debian', 'windows', 'openEuler']);
  const platforms = ['rh', 'sles', 'suse', 'centos', 'alma', 'rocky', 'fedora', 'esxi', 'esx', 'SL', 'ol', 'debian', 'ubuntu', 'AIX', 'windows'];
  assert.deepEqual(platforms.map(xcatPlatform), platforms);
});

test('customPlacement: <root>/custom/<install|netboot>/<platform>/<basename>', () => {
  assert.deepEqual(
    [
      customPlacement('/srv/xcat/', 'install', 'rh', 'compute.rhels8.tmpl'),
      customPlacement('/srv/xcat', 'netboot', 'sles', 'compute.pkglist'),
      customPlacement('/srv/xcat', 'statelite', 'rh', 'compute.exlist'),
      customPlacement('/srv/xcat', 'install', 'rhels8.5.0', 'compute.tmpl'),
      customPlacement('/srv/xcat', 'netboot', 'rocky9.3', 'compute.pkglist'),
    ],
    [
      '/srv/xcat/custom/install/rh/compute.rhels8.tmpl',
      '/srv/xcat/custom/netboot/sles/compute.pkglist',
      '/srv/xcat/custom/netboot/rh/compute.exlist',
      '/srv/xcat/custom/install/rh/compute.tmpl',
      '/srv/xcat/custom/netboot/rocky/compute.pkglist',
    ],
  );
  rejects(() => customPlacement('/i', 'install', 'rh', 'a/b.tmpl'), 'UNSAFE_PATH', '"a/b.tmpl"');
  rejects(() => customPlacement('/i', 'install', 'rh', '..'), 'UNSAFE_PATH', '".."');
  rejects(() => customPlacement('/i', 'install', '../x', 'a'), 'MANIFEST_INVALID', 'os or platform', '"../x"');
});

test('isRootMemberName: only ".", "./" and the like name the archive top; "/", "..", NUL never do', () => {
  for (const ok of ['.', './', './/', '././']) assert.equal(isRootMemberName(ok), true, ok);
  for (const no of ['', '/', '/.', '..', './..', 'a', './a', '.\0', '...']) assert.equal(isRootMemberName(no), false, no);
});

test('toBundlePath / fromBundlePath: bundles spell the install root /install/, each node maps its own', () => {
  assert.equal(toBundlePath('/xcatinstall/netboot/a/kernel', '/xcatinstall'), '/install/netboot/a/kernel');
  assert.equal(toBundlePath('/xcatinstall', '/xcatinstall/'), '/install');
  assert.equal(toBundlePath('/install/x', '/install'), '/install/x');
  assert.equal(toBundlePath('/opt/xcat/share/xcat/netboot/rh/compute.pkglist', '/xcatinstall'), '/opt/xcat/share/xcat/netboot/rh/compute.pkglist');
  assert.equal(toBundlePath('/xcatinstallation/x', '/xcatinstall'), '/xcatinstallation/x', 'a sibling with the same prefix is not inside');
  assert.equal(fromBundlePath('/install/postscripts/x', '/xcatinstall'), '/xcatinstall/postscripts/x');
  assert.equal(fromBundlePath('/install', '/xcatinstall'), '/xcatinstall');
  assert.equal(fromBundlePath('/xcatinstall/postscripts/x', '/xcatinstall'), '/xcatinstall/postscripts/x');
  assert.equal(fromBundlePath('/install/x', '/srv/allowed', ['/install']), '/install/x', 'an allow-listed /install is taken literally');
  assert.equal(fromBundlePath('/etc/passwd', '/xcatinstall'), '/etc/passwd');
  assert.equal(fromBundlePath('/installer/x', '/xcatinstall'), '/installer/x');
  rejects(() => toBundlePath('/xcatinstall/../etc', '/xcatinstall'), 'UNSAFE_PATH');
});

test('mapPathList maps absolute entries of a comma list, keeps tags and relative ones', () => {
  const up = (p: string) => p.toUpperCase();
  assert.equal(mapPathList('/a,b, /c ,s:/d', up), '/A,b,/C,s:/D');
});
