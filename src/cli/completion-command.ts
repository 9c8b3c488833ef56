/**
 * `raftkv completion bash|zsh`: a shell completion script, generated from the program's own
 * commands and flags (so it cannot drift from them). It completes subcommands, flags, and the
 * values of flags that take one of a fixed set (`--output table|json`).
 *
 *     eval "$(raftkv completion bash)"     # in ~/.bashrc
 *     eval "$(raftkv completion zsh)"      # in ~/.zshrc, after compinit
 */
import { Argument } from 'commander';
import type { Command } from 'commander';
import { println } from './output.js';

/** One command path's completions: `""` is the program itself, then `member`, `member add`, ... */
interface Node {
  readonly path: string;
  readonly subcommands: readonly string[];
  readonly flags: readonly string[];
  /** Flag (long and short form) → the values it takes. */
  readonly choices: ReadonlyMap<string, readonly string[]>;
}

/** Every command path of `program`, depth first. */
function nodesOf(command: Command, path: string): Node[] {
  const visible = command.commands.filter((c) => c.name() !== 'help');
  const flags: string[] = ['--help'];
  const choices = new Map<string, readonly string[]>();
  for (const o of command.options) {
    // Negative controls for tests (`--test-...`) are not for people to type.
    if (o.hidden || o.long?.startsWith('--test-') === true) continue;
    for (const f of [o.long, o.short]) {
      if (f === undefined) continue;
      flags.push(f);
      if (o.argChoices !== undefined) choices.set(f, o.argChoices);
    }
  }
  if (path === '') flags.push('--version');
  // Positional arguments with fixed values (`completion bash|zsh`) complete like subcommands.
  const argumentValues = command.registeredArguments.flatMap((a) => a.argChoices ?? []);
  const node: Node = { path, subcommands: [...visible.flatMap((c) => [c.name(), ...c.aliases()]), ...argumentValues], flags, choices };
  return [node, ...visible.flatMap((c) => nodesOf(c, path === '' ? c.name() : `${path} ${c.name()}`))];
}

/** A shell `case` over command paths, printing each path's words. */
function caseOf(nodes: readonly Node[], words: (n: Node) => readonly string[]): string {
  const arms = nodes.map((n) => `    "${n.path}") echo "${words(n).join(' ')}" ;;`);
  return `  case "$1" in\n${arms.join('\n')}\n  esac`;
}

/** `case` arms printing the values of flags with fixed choices (`$1` the path, `$2` the flag). */
function choicesCase(nodes: readonly Node[]): string {
  const arms = nodes.flatMap((n) => [...n.choices].map(([flag, values]) => `    "${n.path}|${flag}") echo "${values.join(' ')}" ;;`));
  return `  case "$1|$2" in\n${arms.join('\n')}\n  esac`;
}

/** The helper functions both shells share (their `case` syntax is the same). */
function helpers(nodes: readonly Node[]): string {
  return [
    `_raftkv_subcommands() {\n${caseOf(nodes, (n) => n.subcommands)}\n}`,
    `_raftkv_flags() {\n${caseOf(nodes, (n) => n.flags)}\n}`,
    `_raftkv_choices() {\n${choicesCase(nodes)}\n}`,
  ].join('\n');
}

/** The bash script. */
export function bashCompletion(program: Command): string {
  const nodes = nodesOf(program, '');
  return `# raftkv completion for bash: eval "$(raftkv completion bash)"
${helpers(nodes)}
_raftkv() {
  local cur prev cmdpath w i values
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmdpath=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    case " $(_raftkv_subcommands "$cmdpath") " in *" $w "*) cmdpath="\${cmdpath:+$cmdpath }$w" ;; esac
  done
  values="$(_raftkv_choices "$cmdpath" "$prev")"
  if [ -n "$values" ]; then
    COMPREPLY=( $(compgen -W "$values" -- "$cur") )
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$(_raftkv_flags "$cmdpath")" -- "$cur") )
  else
    COMPREPLY=( $(compgen -W "$(_raftkv_subcommands "$cmdpath")" -- "$cur") )
  fi
}
complete -o default -F _raftkv raftkv
`;
}

/** The zsh script. */
export function zshCompletion(program: Command): string {
  const nodes = nodesOf(program, '');
  return `#compdef raftkv
# raftkv completion for zsh: eval "$(raftkv completion zsh)" (after compinit)
${helpers(nodes)}
_raftkv() {
  local cmdpath="" w i values
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    [[ "$w" == -* ]] && continue
    if [[ " $(_raftkv_subcommands "$cmdpath") " == *" $w "* ]]; then cmdpath="\${cmdpath:+$cmdpath }$w"; fi
  done
  values="$(_raftkv_choices "$cmdpath" "\${words[CURRENT-1]}")"
  if [[ -n "$values" ]]; then
    compadd -- \${=values}
  elif [[ "\${words[CURRENT]}" == -* ]]; then
    compadd -- \${=$(_raftkv_flags "$cmdpath")}
  else
    compadd -- \${=$(_raftkv_subcommands "$cmdpath")}
    _files
  fi
}
compdef _raftkv raftkv
`;
}

/** Registers `completion <shell>`. */
export function registerCompletionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: eval "$(raftkv completion bash)" (or zsh)')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh']))
    .action((shell: 'bash' | 'zsh') => {
      println(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
    });
}
