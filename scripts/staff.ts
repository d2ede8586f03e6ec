import 'reflect-metadata';
import { loadConfig } from '../config';
import { createDataSource } from '../db/data-source';
import { StaffMembers } from '../db/repositories/gift-fraud';
import { isUuid } from '../db/repositories/pagination';

const USAGE = `usage:
  staff.ts grant  <userId> [support|admin] [--by <name>]   makes the user support staff (the /v1/staff routes)
  staff.ts revoke <userId>                                 takes it back (each API process notices within 5 s)`;

/** Support tooling until an admin API exists: who is staff is a row in staff_members. */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const byAt = args.indexOf('--by');
  const by = byAt >= 0 ? args.splice(byAt, 2)[1] : `scripts/staff.ts (${process.env.USER ?? 'operator'})`;
  const [action, userId, role = 'support', ...rest] = args;
  const roles = ['support', 'admin'] as const;
  const isRole = (r: string): r is (typeof roles)[number] => roles.includes(r as (typeof roles)[number]);
  if (!by || rest.length > 0 || !userId || !isUuid(userId) || !(action === 'grant' ? isRole(role) : action === 'revoke' && args.length === 2)) {
    throw new Error(USAGE);
  }

  const config = loadConfig();
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: 2, applicationName: 'aura-staff-tool' }).initialize();
  try {
    const members = new StaffMembers(dataSource);
    const id = userId.toLowerCase();
    if (action === 'grant' && isRole(role)) {
      await members.grant(id, role, by.slice(0, 128));
      console.log(`${id} is now ${role} staff`);
    } else {
      console.log((await members.revoke(id)) ? `${id} is no longer staff` : `${id} was not staff`);
    }
  } finally {
    await dataSource.destroy();
  }
}

main().catch((err: unknown) => {
  const code = (err as { code?: string }).code;
  // 23503: no such user.
  console.error(code === '23503' ? 'no such user' : err instanceof Error ? err.message : err);
  process.exit(1);
});
