"""The deck's asynchronous random search: LeNet on Fashion-MNIST, 2 workers, 2 minutes.

Every free worker immediately starts a new random configuration (no early
stopping), so no worker waits for a straggler. The initial configuration
lr 0.1 / batch 128 runs first, as in the deck.

    python examples/async_random_search.py
    python examples/async_random_search.py --n-train 12000   # quicker epochs on a laptop CPU
"""

import argparse

from raysha.runs import print_outcome, run_lenet


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-wallclock", type=float, default=2 * 60)
    ap.add_argument("--max-epochs", type=int, default=10)
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--n-test", type=int, default=None)
    ap.add_argument("--storage", default=None)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    exp = run_lenet("random", workers=args.workers, max_wallclock=args.max_wallclock,
                    max_epochs=args.max_epochs, n_train=args.n_train, n_test=args.n_test,
                    storage=args.storage, verbose=0 if args.quiet else 1)
    print_outcome(exp, exp.path)
    return exp


if __name__ == "__main__":
    main()
