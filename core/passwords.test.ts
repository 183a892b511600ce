import { expect } from 'chai';
import { hashPassword, verifyPassword, generatePassword } from './passwords.ts';

describe('passwords', () => {
  it('hashes with scrypt, verifies, and rejects a wrong password', async () => {
    const hash = await hashPassword('correct horse battery');
    expect(hash).to.match(/^scrypt\$32768\$8\$1\$/);
    expect(hash).to.not.include('correct');
    expect(await verifyPassword('correct horse battery', hash)).to.equal(true);
    expect(await verifyPassword('wrong', hash)).to.equal(false);
    expect(await verifyPassword('x', 'garbage')).to.equal(false);
  });

  it('generates distinct readable passwords', () => {
    const a = generatePassword();
    expect(a).to.match(/^[a-z2-9]{5}(-[a-z2-9]{5}){3}$/);
    expect(generatePassword()).to.not.equal(a);
  });
});
