/** Short text for records, alerts and logs: long values are cut with an ellipsis so stored fields stay bounded. */

/** Keeps the start of long text: at most `max` characters, the last one `…` when cut. */
export function keepStart(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Keeps the end of long text (the end of stderr is where the cause is): at most `max` characters, `…` first when cut. */
export function keepEnd(text: string, max: number): string {
  return text.length <= max ? text : `…${text.slice(text.length - max + 1)}`;
}
