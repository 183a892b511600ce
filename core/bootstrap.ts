/**
 * First-run setup: the one admin account, with a generated password shown once and changed at
 * first sign-in. Audited like any account creation.
 */
import type { Accounts } from './accounts.ts';

export async function ensureInitialAdmin(accounts: Accounts): Promise<{ name: string; password: string } | undefined> {
  if (accounts.list({ role: 'admin' }).length > 0) return undefined;
  // "admin" may already be taken by an account of another role.
  const name = accounts.get('admin') ? 'outpost-admin' : 'admin';
  const { password } = await accounts.create({ name, role: 'admin', displayName: 'Administrator' }, { name: 'system' });
  return { name, password };
}
