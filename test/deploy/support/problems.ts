// Checks report what is wrong as a list of sentences; an empty list is a pass.
export class Problems {
  readonly list: string[] = [];

  constructor(private readonly prefix = '') {}

  need(ok: boolean, problem: string): void {
    if (!ok) this.list.push(this.prefix + problem);
  }

  add(problems: string[]): void {
    problems.forEach((problem) => this.need(false, problem));
  }
}
