import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { AppError, ErrorCode } from '../../domain/errors';
import { FlowKind, SearchAttribute } from '../../domain/flows';
import { OTP_FLOW_WAIT_MS, type OtpPolicy } from '../../domain/otp/rules';
import type { PhoneSecrets } from '../../platform/crypto/phone-secrets';
import {
  otpWorkflowId,
  requestOtpUpdate,
  verifyOtpUpdate,
  type OtpInput,
  type OtpSent,
  type OtpSessionRequest,
  type OtpVerified,
} from '../../workflows/otp/definitions';
import type { otpWorkflow } from '../../workflows/otp/workflow';
import { translateTemporalError } from '../../platform/temporal-errors';

/**
 * The handle on phone OTP flows. Takes E.164 numbers; hands Temporal only hashes and
 * ciphertext. Each call waits at most OTP_FLOW_WAIT_MS (the flow's own steps are bounded below
 * it), then answers a retryable DEPENDENCY_UNAVAILABLE rather than hanging the request.
 */
export class OtpFlows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly policy: OtpPolicy,
    private readonly secrets: PhoneSecrets,
  ) {}

  async request(e164: string): Promise<OtpSent> {
    const phoneKey = this.secrets.phoneKey(e164);
    const input: OtpInput = { phoneKey, policy: this.policy };
    const start = new WithStartWorkflowOperation<typeof otpWorkflow>('otpWorkflow', {
      workflowId: otpWorkflowId(phoneKey),
      taskQueue: this.taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [input],
      typedSearchAttributes: new TypedSearchAttributes([{ key: SearchAttribute.FlowKind, value: FlowKind.PhoneOtp }]),
    });
    try {
      return await this.bounded(() =>
        this.client.workflow.executeUpdateWithStart(requestOtpUpdate, {
          startWorkflowOperation: start,
          args: [{ phoneCiphertext: this.secrets.encrypt(e164) }],
        }),
      );
    } catch (err) {
      throw translateTemporalError(err);
    }
  }

  async verify(e164: string, code: string, session: OtpSessionRequest): Promise<OtpVerified> {
    const phoneKey = this.secrets.phoneKey(e164);
    try {
      return await this.bounded(() =>
        this.client.workflow.getHandle(otpWorkflowId(phoneKey)).executeUpdate(verifyOtpUpdate, {
          args: [{ codeHash: this.secrets.codeHash(phoneKey, code), phoneCiphertext: this.secrets.encrypt(e164), session }],
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        throw new AppError(ErrorCode.OtpNotRequested, 'no code was sent to this number; ask for one');
      }
      const translated = translateTemporalError(err);
      // A finished flow (verified or its window passed) no longer takes updates.
      if (translated instanceof AppError && translated.code === ErrorCode.NotFound) {
        throw new AppError(ErrorCode.OtpNotRequested, 'no code is pending for this number; ask for one');
      }
      throw translated;
    }
  }

  /** Every RPC inside (the update and its long polls) shares one deadline. */
  private bounded<T>(call: () => Promise<T>): Promise<T> {
    return this.client.withDeadline(Date.now() + OTP_FLOW_WAIT_MS, call);
  }
}
