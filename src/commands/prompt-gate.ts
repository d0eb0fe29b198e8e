/**
 * Prompts that never keep the embedded database locked while a person thinks: PGlite allows one process at a
 * time, so a wizard waiting at a prompt would make every other command wait and fail. Each prompt first
 * frees the database (ctx.release); work a prompt itself does (a search as the agent types, an address
 * checked by `validate`) opens it through `use` and frees it again once the typing pauses.
 */
import type { AppContext, Prompts } from '../context.js';

export interface PromptGate {
  /** The command's prompts, each asked with the database freed. */
  prompt: Prompts;
  /** Database work done while a prompt is open (search source, validate). */
  use<T>(fn: () => Promise<T>): Promise<T>;
}

/** `idleMs`: how long after the last look-up a prompt keeps the database (typing a name is many look-ups). */
export function promptGate(ctx: AppContext, idleMs = 400): PromptGate {
  let asking = false;
  let busy = 0;
  let timer: NodeJS.Timeout | undefined;
  let closing: Promise<void> = Promise.resolve();
  const free = () => {
    clearTimeout(timer);
    closing = closing.then(() => ctx.release()).catch(() => undefined);
    return closing;
  };
  const ask = async <T>(fn: () => Promise<T>): Promise<T> => {
    await free();
    asking = true;
    try {
      return await fn();
    } finally {
      // A late look-up's timer must not close the database under the work that follows the answer.
      asking = false;
      clearTimeout(timer);
      await closing;
    }
  };
  return {
    use: async (fn) => {
      busy++;
      clearTimeout(timer);
      try {
        await closing; // a release under way finishes before the look-up reopens the database
        return await fn();
      } finally {
        busy--;
        if (busy === 0 && asking) {
          timer = setTimeout(() => {
            if (busy === 0 && asking) void free();
          }, idleMs);
        }
      }
    },
    prompt: {
      confirm: (message, def) => ask(() => ctx.prompt.confirm(message, def)),
      input: (message, options) => ask(() => ctx.prompt.input(message, options)),
      select: (message, choices) => ask(() => ctx.prompt.select(message, choices)),
      search: (message, source) => ask(() => ctx.prompt.search(message, source)),
    },
  };
}
