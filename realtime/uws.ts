import * as uws from 'uWebSockets.js';

/**
 * uWebSockets.js comes from an npm republish that silently swaps in a slow pure-JS server
 * when its native binary doesn't load (or when UWS_USE_FALLBACK is set). Only the native
 * build exports `getParts`, so that tells the two apart.
 */
export function isNativeUws(): boolean {
  return typeof (uws as unknown as { getParts?: unknown }).getParts === 'function';
}

export function assertNativeUws(allowFallback: boolean): void {
  if (isNativeUws() || allowFallback) return;
  throw new Error(
    'uWebSockets.js loaded its pure-JavaScript fallback instead of the native binary ' +
      `(Node ${process.versions.node}, ABI ${process.versions.modules}, ${process.platform}-${process.arch}; ` +
      `UWS_USE_FALLBACK=${process.env.UWS_USE_FALLBACK ?? 'unset'}). The fallback is far slower and would not ` +
      'hold production load. Fix the binary, or set REALTIME_ALLOW_JS_FALLBACK=true to run on it knowingly.',
  );
}

export { uws };
