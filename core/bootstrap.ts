/**
 * First-run setup of the store: the one admin account, with a generated password shown once and
 * changed at first login. (Accounts, roles and sessions proper live in the accounts module.)
 */
import type { Store } from './store.ts';
import { generatePassword, hashPassword } from './passwords.ts';

export async function ensureInitialAdmin(store: Store): Promise<{ name: string; password: string } | undefined> {
  const existing = store.db.prepare("select count(*) as n from users where role = 'admin'").get() as { n: number };
  if (existing.n > 0) return undefined;
  const password = generatePassword();
  const hash = await hashPassword(password);
  const inserted = store.db
    .prepare("insert into users (name, role, password_hash, must_change_password, created_at) select 'admin', 'admin', ?, 1, ? where not exists (select 1 from users where role = 'admin')")
    .run(hash, new Date().toISOString());
  return inserted.changes === 1 ? { name: 'admin', password } : undefined;
}
