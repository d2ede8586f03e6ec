import type { ParameterizedContext } from 'koa';
import type { AccessClaims } from '../../platform/auth/access-tokens';

export interface ApiState {
  requestId: string;
  auth?: AccessClaims;
}

export type ApiContext = ParameterizedContext<ApiState>;
