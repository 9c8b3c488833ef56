/** Splits `items` into those `pick` selects and the rest, keeping their order. */
export function splitBy<T>(items: readonly T[], pick: (item: T) => boolean): { picked: T[]; rest: T[] } {
  const picked: T[] = [];
  const rest: T[] = [];
  for (const item of items) (pick(item) ? picked : rest).push(item);
  return { picked, rest };
}
