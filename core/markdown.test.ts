import { expect } from 'chai';
import { Parser } from 'htmlparser2';
import { renderMarkdown, isSafeUrl, rewriteRelative } from './markdown.ts';

const TAGS = new Set(['p', 'a', 'img', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li', 'pre', 'code', 'em', 'strong', 'blockquote', 'hr', 'br', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 's']);
const ATTRS = new Set(['href', 'src', 'alt', 'title', 'rel', 'loading', 'class', 'start', 'style']);

/** Parses the output as a browser would and lists every element, attribute and URL in it. */
function inspect(out: string): { tags: string[]; attrs: [string, string][]; urls: string[]; text: string } {
  const tags: string[] = [];
  const attrs: [string, string][] = [];
  let text = '';
  new Parser({
    onopentag(name, attributes) { tags.push(name); for (const [k, v] of Object.entries(attributes)) attrs.push([k, v]); },
    ontext(t) { text += t; },
  }, { decodeEntities: true }).end(out);
  return { tags, attrs, urls: attrs.filter(([k]) => k === 'href' || k === 'src').map(([, v]) => v), text };
}

function expectHarmless(markdown: string): ReturnType<typeof inspect> {
  const out = renderMarkdown(markdown).value;
  const found = inspect(out);
  for (const tag of found.tags) expect(TAGS.has(tag), `element <${tag}> in ${out}`).to.equal(true);
  for (const [k, v] of found.attrs) {
    expect(ATTRS.has(k), `attribute ${k} in ${out}`).to.equal(true);
    // markdown-it puts `style="text-align"` on table cells only; nothing else may bring CSS.
    if (k === 'style') expect(v).to.match(/^text-align:(left|right|center)$/);
  }
  for (const url of found.urls) {
    expect(url.replace(/[\s\x00-\x1f]/g, '').toLowerCase(), `URL in ${out}`).to.not.match(/^(javascript|vbscript|data|file):/);
    expect(isSafeUrl(url), url).to.equal(true);
  }
  return found;
}

describe('markdown → safe HTML', () => {
  it('renders ordinary Markdown', () => {
    const out = renderMarkdown('# Title\n\nSome *text* and `code`.\n\n- one\n- two\n\n```js\nlet x = 1 < 2;\n```\n').value;
    expect(out).to.contain('<h1>Title</h1>').and.to.contain('<em>text</em>').and.to.contain('<code>code</code>').and.to.contain('<li>one</li>');
    expect(out).to.contain('let x = 1 &lt; 2;');
  });

  it('shows raw HTML as text: script tags, event handlers, iframes, comments', () => {
    for (const vector of [
      '<script>alert(1)</script>',
      '<img src=x onerror=alert(1)>',
      '<a href="javascript:alert(1)">x</a>',
      '<iframe src="https://evil.example"></iframe>',
      '<svg onload=alert(1)>',
      '<div style="background:url(javascript:alert(1))">x</div>',
      'text <b onmouseover="alert(1)">bold</b>',
      '<!-- --><script>alert(1)</script>',
      '<details open ontoggle=alert(1)>',
    ]) {
      const found = expectHarmless(vector);
      expect(found.text).to.contain('<');
    }
    expect(renderMarkdown('<script>alert(1)</script>').value).to.contain('&lt;script&gt;');
  });

  it('drops links and images with dangerous schemes, however they are spelled', () => {
    for (const vector of [
      '[x](javascript:alert(1))',
      '[x](JaVaScRiPt:alert(1))',
      '[x]( javascript:alert(1) )',
      '[x](&#106;avascript:alert(1))',
      '[x](&#x6A;avascript&#x3A;alert(1))',
      '[x](java&#x09;script:alert(1))',
      '[x](vbscript:msgbox(1))',
      '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
      '[x](file:///etc/passwd)',
      '<javascript:alert(1)>',
      '[x][ref]\n\n[ref]: javascript:alert(1)',
      '![x](javascript:alert(1))',
      '![x](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)',
      'www.example.com/javascript:alert(1)',
    ]) {
      const found = expectHarmless(vector);
      for (const url of found.urls) expect(url.toLowerCase()).to.not.contain('script:');
    }
    expect(inspect(renderMarkdown('[x](javascript:alert(1))').value).tags).to.not.include('a');
    expect(inspect(renderMarkdown('![x](data:image/png;base64,AAAA)').value).tags).to.not.include('img');
  });

  it('cannot break out of an attribute: quotes in URLs, titles and alt texts stay inside', () => {
    for (const vector of [
      '[x](https://ok.example/"onmouseover="alert(1))',
      '[x](/a "title\\" onmouseover=\\"alert(1)")',
      '![x" onerror="alert(1)](a.png)',
      '![alt](a.png "t\' onerror=\'alert(1)")',
      '[x](<https://ok.example/a b" onclick="x>)',
      '[x](https://ok.example/`onmouseover=alert(1)`)',
    ]) expectHarmless(vector);
    const img = inspect(renderMarkdown('![x" onerror="alert(1)](a.png)').value);
    expect(img.attrs.find(([k]) => k === 'alt')?.[1]).to.equal('x" onerror="alert(1)');
  });

  it('keeps http(s), mailto, relative links and anchors; external links get rel=noopener', () => {
    const found = expectHarmless('[a](https://docs.python.org/3/) [b](mailto:a@b.c) [c](docs/x.md) [d](#top) [e](../up.md)');
    expect(found.urls).to.deep.equal(['https://docs.python.org/3/', 'mailto:a@b.c', 'docs/x.md', '#top', '../up.md']);
    const out = renderMarkdown('[a](https://docs.python.org/3/)').value;
    expect(out).to.contain('rel="noopener noreferrer nofollow"');
  });

  it('rewrites relative links and images against a base, never above its root', () => {
    const options = { links: { base: '/git/al/hello/blob/main/', dir: 'docs' }, images: { base: '/git/al/hello/raw/main/', dir: 'docs' } };
    const found = inspect(renderMarkdown([
      '[g](guide.md) [u](../README.md) [r](/src/app.js) [deep](../../../../etc/passwd) [q](a.md?x=1#part) [h](#here) [w](https://example.org/x) [sp](my%20file.md)',
      '![logo](img/logo.png) ![abs](https://example.org/i.png)',
    ].join('\n\n'), options).value);
    expect(found.urls).to.deep.equal([
      '/git/al/hello/blob/main/docs/guide.md', '/git/al/hello/blob/main/README.md', '/git/al/hello/blob/main/src/app.js',
      '/git/al/hello/blob/main/etc/passwd', '/git/al/hello/blob/main/docs/a.md?x=1#part', '#here', 'https://example.org/x',
      '/git/al/hello/blob/main/docs/my%20file.md', '/git/al/hello/raw/main/docs/img/logo.png', 'https://example.org/i.png',
    ]);
    expect(rewriteRelative('sub/', { base: '/b', dir: 'dir with space' })).to.equal('/b/dir%20with%20space/sub/');
    expect(rewriteRelative('//evil.example/x', { base: '/b/' })).to.equal('//evil.example/x');
  });

  it('cuts very long input instead of rendering it all', () => {
    const out = renderMarkdown('a'.repeat(5000), { maxLength: 100 }).value;
    expect(out).to.equal(`<p>${'a'.repeat(100)}</p>\n`);
  });
});
