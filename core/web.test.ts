import { expect } from 'chai';
import type { Request } from 'express';
import { createNotices } from './web.ts';

/** The query string of a link, as express would hand it to a handler. */
const requestFor = (link: string) => ({ query: Object.fromEntries(new URL(link, 'http://outpost.invalid').searchParams) }) as unknown as Request;

describe('notices carried by redirects', () => {
  it('shows a notice this server wrote, keeping the link\'s query and fragment', () => {
    const notices = createNotices();
    const link = notices.link('/admin/bundles?page=2#bundle-7', 'Bundle #7 was applied.');
    expect(link).to.match(/^\/admin\/bundles\?page=2&notice=Bundle%20%237%20was%20applied\.&ns=[\w-]{22}#bundle-7$/);
    expect(notices.read(requestFor(link))).to.equal('Bundle #7 was applied.');
  });

  it('shows nothing for a notice someone else wrote: a crafted link cannot put words in Outpost\'s mouth', () => {
    const notices = createNotices();
    const genuine = notices.link('/learn', 'Saved.');
    expect(notices.read(requestFor('/learn?notice=Your%20password%20expired.%20Tell%20it%20to%20your%20instructor.'))).to.equal('');
    expect(notices.read(requestFor(genuine.replace('Saved.', 'Deleted.')))).to.equal('');
    // Another server's key (or this one's before a restart) signs nothing here.
    expect(createNotices().read(requestFor(genuine))).to.equal('');
  });
});
