/**
 * Answers counted per route, method and status class as plain numbers, and handed to
 * webhook_http_requests_total when it is collected. prom-client hashes and validates a label set
 * on every `inc`, a few microseconds per request: when thousands of long-polls answer in one turn
 * that was as much as their garbage collection.
 */
export interface RequestLabels {
  route: string;
  method: string;
  status: string;
}

/** Counts one answer: its method and status code. */
export type CountAnswer = (method: string, statusCode: number) => void;

const statusClass = (code: number) => Math.min(5, Math.max(1, Math.floor(code / 100)));

export function createRequestTally() {
  // One row per route and method; counts[c] holds answers with status class c (1xx … 5xx).
  const rows: Array<{ route: string; method: string; counts: number[] }> = [];
  const row = (route: string, method: string) => {
    let r = rows.find((x) => x.route === route && x.method === method);
    if (r === undefined) {
      r = { route, method, counts: [0, 0, 0, 0, 0, 0] };
      rows.push(r);
    }
    return r.counts;
  };

  return {
    /** The counter of one route template: it finds the route's row once per method. */
    forRoute(route: string): CountAnswer {
      const byMethod = new Map<string, number[]>();
      return (method, statusCode) => {
        let counts = byMethod.get(method);
        if (counts === undefined) {
          counts = row(route, method);
          byMethod.set(method, counts);
        }
        counts[statusClass(statusCode)]! += 1;
      };
    },
    /** Hands over what was counted since the last call, and starts again from zero. */
    drain(add: (labels: RequestLabels, count: number) => void): void {
      for (const r of rows) {
        for (let c = 1; c <= 5; c++) {
          const n = r.counts[c]!;
          if (n === 0) continue;
          r.counts[c] = 0;
          add({ route: r.route, method: r.method, status: `${c}xx` }, n);
        }
      }
    },
  };
}
