// What a plan whose scales are 0 will do, in words; no imports, so the extension host can use it too.
/**
 * A merge whose scale is 0 everywhere (lora_alpha 0, adapter weight 0, --scale 0) writes a copy of
 * the base and would exit 0 as if it had merged: the plan says so in words, per front end. Modules
 * that replace a tensor (modules_to_save) change it whatever the scale, so they count as changes.
 */
export function zeroScaleNote(pairs: readonly { module: string; kind: 'lora' | 'replace'; scale: number }[]): string | null {
  const zero = pairs.filter((p) => p.kind === 'lora' && p.scale === 0);
  if (zero.length === 0) return null;
  const why = 'scale is 0 (lora_alpha 0, an adapter weight of 0 or a global scale of 0)';
  if (zero.length === pairs.length) return `nothing changes: every matched module's ${why}, so the result equals the base`;
  const names = zero.slice(0, 3).map((p) => `'${p.module}'`).join(', ') + (zero.length > 3 ? ` and ${zero.length - 3} more` : '');
  return `${zero.length} of ${pairs.length} modules change nothing (${names}): their ${why}`;
}
