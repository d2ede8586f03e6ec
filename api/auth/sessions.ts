/** Sessions moved to services/auth; kept here for api/auth/bans.ts and scripts/ban.ts, which another change owns. */
export { Sessions, type SessionSettings, type TokenPair } from '../../services/auth/sessions';
