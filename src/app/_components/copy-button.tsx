'use client';

import { useEffect, useState } from 'react';

/** How long "Copied" stays before the button reads "Copy" again. */
const CONFIRMATION_MS = 1_500;

/** Copies `value` (a full sha256) to the clipboard, saying whether it worked. */
export function CopyButton({ value, label }: { value: string; label: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const timer = setTimeout(() => setState('idle'), CONFIRMATION_MS);
    return () => clearTimeout(timer);
  }, [state]);
  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
      setState('copied');
    } catch {
      // No clipboard access (plain http on another host, or denied): the full value is in the tooltip to select.
      setState('failed');
    }
  }
  return (
    <button type="button" className="small" onClick={() => void copy()} aria-label={label} title={value}>
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed' : 'Copy'}
    </button>
  );
}
