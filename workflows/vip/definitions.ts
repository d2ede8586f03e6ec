import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { VipFlowState, VipPolicy, VipPurchaseNotice } from '../../domain/vip/flow';

/** The messages of the `vip:<userId>` flow: shared by the workflow, the API and the tests. */
export interface VipFlowInput {
  userId: string;
  policy: VipPolicy;
  /** Present when the flow continues as new. */
  state?: VipFlowState;
}

/** A committed purchase (the DB is the record; this moves the timer), with the API's policy. */
export interface VipPurchasedSignal extends VipPurchaseNotice {
  policy?: VipPolicy;
}

export const vipPurchasedSignal = defineSignal<[VipPurchasedSignal]>('purchased');
export const vipStatusQuery = defineQuery<{ state: VipFlowState; policy: VipPolicy }>('status');

export function vipWorkflowId(userId: string): string {
  return `vip:${userId}`;
}
