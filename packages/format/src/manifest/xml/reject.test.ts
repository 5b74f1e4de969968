import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { parseManifestXml } from './read.js';

const OSIMAGE = (extra = '', provmethod = 'netboot') =>
  `<osimage><imagename>img</imagename><osarch>x86_64</osarch><osvers>rhels8</osvers><profile>p</profile><provmethod>${provmethod}</provmethod>${extra}</osimage>`;
const BOOT = '<kernel>/install/n/kernel</kernel><ramdisk>/install/n/initrd-stateless.gz</ramdisk><rootimg>/install/n/rootimg.gz</rootimg>';
const doc = (body: string) => `<?xml version="1.0"?>\n<xcatimage>\n${body}\n</xcatimage>\n`;

function rejects(text: string, code: string, message: string): void {
  assert.throws(
    () => parseManifestXml(text),
    (err: unknown) => {
      assert.ok(err instanceof ImgportError, String(err));
      assert.equal(err.message, message);
      assert.equal(err.code, code);
      return true;
    },
  );
}

test('the baseline document used below parses', () => {
  assert.equal(parseManifestXml(doc(OSIMAGE() + BOOT)).name, 'img');
});

test('billion laughs: a DOCTYPE with entities is refused quickly, before parsing', () => {
  const lol = ['<!ENTITY lol "lol">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`)];
  const bomb = `<?xml version="1.0"?>\n<!DOCTYPE xcatimage [\n${lol.join('\n')}\n]>\n<xcatimage><osimage><comments>&lol9;</comments></osimage></xcatimage>`;
  const started = performance.now();
  rejects(bomb, 'MANIFEST_INVALID', 'manifest.xml line 2: <!DOCTYPE> declarations are not allowed');
  assert.ok(performance.now() - started < 100, 'refused without expanding anything');
});

test('ENTITY declarations, unknown entities and character references are refused', () => {
  rejects('<xcatimage>\n<!ENTITY x SYSTEM "file:///etc/passwd"></xcatimage>', 'MANIFEST_INVALID', 'manifest.xml line 2: <!ENTITY> declarations are not allowed');
  rejects(doc(`${OSIMAGE('<comments>&x;</comments>')}${BOOT}`), 'MANIFEST_INVALID', 'manifest.xml line 3: only &amp; &lt; &gt; &quot; &apos; may be used, found "&x;</comme"');
  rejects(doc(`${OSIMAGE('<comments>&#65;</comments>')}${BOOT}`), 'MANIFEST_INVALID', 'manifest.xml line 3: only &amp; &lt; &gt; &quot; &apos; may be used, found "&#65;</com"');
});

test('the five predefined entities are decoded', () => {
  const m = parseManifestXml(doc(`${OSIMAGE('<comments>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;</comments>')}${BOOT}`));
  assert.deepEqual(m.osimage, { comments: 'a & b <c> "d" \'e\'' });
});

test('malformed XML and a wrong root are MANIFEST_INVALID with the line', () => {
  rejects('<xcatimage>\n<osimage>\n</xcatimage>', 'MANIFEST_INVALID', "manifest.xml line 3: Expected closing tag 'osimage' (opened in line 2, col 1) instead of closing tag 'xcatimage'.");
  rejects('<?xml version="1.0"?>\n<image><a>1</a></image>', 'MANIFEST_INVALID', 'manifest.xml: the root element must be <xcatimage>, found <image>');
  rejects(doc('<__proto__>x</__proto__>'), 'MANIFEST_INVALID', 'manifest.xml: [SECURITY] Invalid name: "__proto__" is a reserved JavaScript keyword that could cause prototype pollution');
});

test('a huge document is refused before parsing', () => {
  rejects(doc(' '.repeat(1 << 20)), 'LIMIT_EXCEEDED', `manifest.xml is ${doc('').length + (1 << 20)} characters long (limit ${1 << 20})`);
});

test('missing or repeated required columns name the element', () => {
  rejects(doc(OSIMAGE().replace('<osvers>rhels8</osvers>', '') + BOOT), 'MANIFEST_INVALID', 'manifest.xml: missing <osimage><osvers>');
  rejects(doc(OSIMAGE().replace('<profile>p</profile>', '<profile></profile>') + BOOT), 'MANIFEST_INVALID', 'manifest.xml: missing <osimage><profile>');
  rejects(doc(OSIMAGE('<osarch>ppc64le</osarch>') + BOOT), 'MANIFEST_INVALID', 'manifest.xml <osimage><osarch>: appears 2 times');
  rejects(doc(OSIMAGE().replace('<imagename>img</imagename>', '') + BOOT), 'MANIFEST_INVALID', 'manifest.xml: missing <osimage><imagename>');
  const flat = '<imagename>i</imagename><osvers>c6</osvers><profile>p</profile><provmethod>netboot</provmethod>';
  rejects(doc(flat + BOOT), 'MANIFEST_INVALID', 'manifest.xml: missing <osarch>');
});

test('the name may come from <linuximage> or a top-level <imagename>', () => {
  const noName = OSIMAGE().replace('<imagename>img</imagename>', '');
  const names = [
    parseManifestXml(doc(`${noName}${BOOT}<linuximage><imagename>li</imagename></linuximage>`)).name,
    parseManifestXml(doc(`${noName}${BOOT}<imagename>top</imagename>`)).name,
  ];
  assert.deepEqual(names, ['li', 'top']);
});

test('structure errors name the element', () => {
  rejects(doc(`text${OSIMAGE()}${BOOT}`), 'MANIFEST_INVALID', 'manifest.xml <xcatimage>: text outside any element');
  rejects(doc(`<osimage>text</osimage>${BOOT}`), 'MANIFEST_INVALID', 'manifest.xml <osimage>: expected column elements, found text');
  rejects(doc(`${OSIMAGE()}${BOOT}<kit><bad-name>x</bad-name></kit>`), 'MANIFEST_INVALID', 'manifest.xml <kit> #1: invalid element name <bad-name>');
  rejects(doc(`${OSIMAGE()}${BOOT}<extra/>`), 'MANIFEST_INVALID', 'manifest.xml <extra> #1: expected <src> and <dest>');
  rejects(doc(`${OSIMAGE('<colour>blue</colour>')}${BOOT}`), 'MANIFEST_INVALID', "manifest.xml <osimage><colour>: not a column of xCAT's osimage table");
  rejects(doc(`${OSIMAGE()}${BOOT}<linuximage><osvers>x</osvers></linuximage>`), 'MANIFEST_INVALID', "manifest.xml <linuximage><osvers>: not a column of xCAT's linuximage table");
  rejects(doc(`${OSIMAGE()}${OSIMAGE()}${BOOT}`), 'MANIFEST_INVALID', 'manifest.xml <osimage>: appears 2 times');
  rejects(doc(`${OSIMAGE('<comments><b>x</b></comments>')}${BOOT}`), 'MANIFEST_INVALID', 'manifest.xml <osimage><comments>: expected text, found child elements');
  rejects(doc(`${OSIMAGE()}${BOOT}<colour>blue</colour>`), 'MANIFEST_INVALID', 'manifest.xml <colour>: unknown element');
  rejects(doc(`${OSIMAGE()}${BOOT}<kernel>/install/k2</kernel>`), 'MANIFEST_INVALID', 'manifest.xml <kernel>: appears 2 times');
  rejects(doc(`${OSIMAGE()}${BOOT}<rawimagefiles><files>/a.img</files></rawimagefiles>`), 'UNSUPPORTED', 'manifest.xml <rawimagefiles>: s390x raw images are not supported');
  rejects(doc(`${OSIMAGE()}${BOOT}<kit>text</kit>`), 'MANIFEST_INVALID', 'manifest.xml <kit> #1: expected column elements, found text');
  rejects(doc(`${OSIMAGE()}${BOOT}<media>optional</media>`), 'MANIFEST_INVALID', 'manifest.xml <media>: expected "required", found "optional"');
});

test('image name, tokens and method are validated', () => {
  rejects(
    doc(OSIMAGE().replace('<imagename>img</imagename>', '<imagename>../img</imagename>') + BOOT),
    'MANIFEST_INVALID',
    'manifest.xml <osimage><imagename>: invalid image name "../img": contains "/" at position 3 (allowed: letters, digits, ".", "_", "+", "-")',
  );
  rejects(doc(`${OSIMAGE()}${BOOT}<linuximage><imagename>other</imagename></linuximage>`), 'MANIFEST_INVALID', 'manifest.xml: <osimage><imagename> "img" and <linuximage><imagename> "other" differ');
  rejects(doc(`${OSIMAGE()}${BOOT}<imagename>top</imagename>`), 'MANIFEST_INVALID', 'manifest.xml: <osimage><imagename> "img" and <imagename> "top" differ');
  rejects(doc(OSIMAGE().replace('rhels8', 'rh/../x') + BOOT), 'MANIFEST_INVALID', 'manifest.xml <osimage><osvers>: invalid os "rh/../x": contains "/" at position 3 (allowed: letters, digits, ".", "_", "+", "-")');
  rejects(doc(OSIMAGE('', 'sysclone') + BOOT), 'UNSUPPORTED', 'manifest.xml <osimage><provmethod>: method "sysclone" is not supported (expected install, netboot or statelite)');
  rejects(doc(OSIMAGE('', 'foo') + BOOT), 'MANIFEST_INVALID', 'manifest.xml <osimage><provmethod>: method "foo" is not supported (expected install, netboot or statelite)');
});

test('files each method needs', () => {
  rejects(doc(OSIMAGE() + BOOT.replace(/<ramdisk>.*<\/ramdisk>/, '')), 'MANIFEST_INVALID', 'manifest.xml: method "netboot" needs <ramdisk>');
  rejects(doc(OSIMAGE('', 'statelite') + BOOT), 'MANIFEST_INVALID', 'manifest.xml: method "statelite" needs <rootimgtree>');
  rejects(doc(OSIMAGE('', 'install')), 'MANIFEST_INVALID', 'manifest.xml: method "install" needs <linuximage><template>');
});

test('unsafe paths are UNSAFE_PATH naming the element and the path', () => {
  rejects(doc(OSIMAGE() + BOOT.replace('/install/n/kernel', '/install/../etc/shadow')), 'UNSAFE_PATH', 'manifest.xml <kernel>: unsafe path "/install/../etc/shadow": ".." components are not allowed');
  rejects(doc(OSIMAGE() + BOOT.replace('/install/n/kernel', 'n/kernel')), 'UNSAFE_PATH', 'manifest.xml <kernel>: unsafe path "n/kernel": expected an absolute path');
  rejects(doc(OSIMAGE() + BOOT.replace('/install/n/kernel', '/install/n/manifest.xml')), 'UNSAFE_PATH', 'manifest.xml <kernel>: unsafe path "manifest.xml": the name is reserved for the bundle itself');
  rejects(doc(`${OSIMAGE()}${BOOT}<linuximage><pkglist>/a.pkglist,,/b.pkglist</pkglist></linuximage>`), 'MANIFEST_INVALID', 'manifest.xml <linuximage><pkglist>: empty path in "/a.pkglist,,/b.pkglist"');
  rejects(doc(`${OSIMAGE()}${BOOT}<linuximage><exlist>/x/../../e</exlist></linuximage>`), 'UNSAFE_PATH', 'manifest.xml <linuximage><exlist>: unsafe path "/x/../../e": ".." components are not allowed');
});

test('two paths with one basename cannot both be stored flat', () => {
  rejects(
    doc(`${OSIMAGE()}${BOOT}<linuximage><pkglist>/install/a/kernel</pkglist></linuximage>`),
    'MANIFEST_INVALID',
    'manifest.xml: "/install/n/kernel" and "/install/a/kernel" would both be stored as "kernel"',
  );
});

test('extras need a safe <src> and <dest>', () => {
  const base = OSIMAGE() + BOOT;
  rejects(doc(`${base}<extra><src>/install/s</src></extra>`), 'MANIFEST_INVALID', 'manifest.xml <extra> #1: missing <dest>');
  rejects(doc(`${base}<extra><src>/a</src><dest>/install</dest></extra><extra><dest>/install</dest></extra>`), 'MANIFEST_INVALID', 'manifest.xml <extra> #2: missing <src>');
  rejects(doc(`${base}<extra><src>/a</src><dest>/i</dest><mode>7</mode></extra>`), 'MANIFEST_INVALID', 'manifest.xml <extra> #1: unknown element <mode>');
  rejects(doc(`${base}<extra><src>/a/../b</src><dest>/i</dest></extra>`), 'UNSAFE_PATH', 'manifest.xml <extra> #1: extra source "/a/../b": unsafe path "/a/../b": ".." components are not allowed');
  rejects(doc(`${base}<extra><src>/a</src><dest>/i/../../etc</dest></extra>`), 'UNSAFE_PATH', 'manifest.xml <extra> #1: unsafe path "/i/../../etc": ".." components are not allowed');
});
