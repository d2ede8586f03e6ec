import type { ActivityOptions } from '@temporalio/workflow';

/** The spec's retry policy: 3 retries at 1 s, 2 s and 4 s; 30 s per attempt for standard calls. */
export const STANDARD_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '4 seconds',
    maximumAttempts: 4,
  },
};

/** Media work (transcoding, provider look-ups with large payloads) gets 60 s per attempt. */
export const MEDIA_ACTIVITY_OPTIONS: ActivityOptions = { ...STANDARD_ACTIVITY_OPTIONS, startToCloseTimeout: '60 seconds' };
