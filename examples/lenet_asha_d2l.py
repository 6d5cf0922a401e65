"""d2l's ASHA experiment: LeNet on Fashion-MNIST, tuned by ASHA on local Ray.

Exactly d2l's settings by default: learning_rate loguniform(1e-2, 1),
batch_size randint(32, 256), at most 10 epochs, grace period 2, η 2, the
initial configuration lr 0.1 / batch 128 first, 2 workers, 12 minutes.
d2l runs the stopping variant; `--variant promotion` runs the original ASHA.

    python examples/lenet_asha_d2l.py                      # the full 12-minute run
    python examples/lenet_asha_d2l.py --variant promotion  # pause-and-resume ASHA
    python examples/lenet_asha_d2l.py --n-train 12000 --max-wallclock 180   # a laptop-CPU taste

Prints the best configuration and writes learning curves against wall-clock
time (the d2l figure) and best-so-far plots into the experiment folder.
"""

import argparse

from raysha.runs import print_outcome, run_lenet


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=["stopping", "promotion"], default="stopping")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-wallclock", type=float, default=12 * 60)
    ap.add_argument("--max-epochs", type=int, default=10)
    ap.add_argument("--max-trials", type=int, default=None)
    ap.add_argument("--n-train", type=int, default=None, help="training subset (default: all 60,000)")
    ap.add_argument("--n-test", type=int, default=None, help="validation subset (default: all 10,000)")
    ap.add_argument("--storage", default=None, help="where the experiment folder goes")
    ap.add_argument("--name", default=None)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    exp = run_lenet("asha" if args.variant == "stopping" else "asha-promotion", workers=args.workers,
                    max_wallclock=args.max_wallclock, max_epochs=args.max_epochs, grace_period=2,
                    reduction_factor=2, n_train=args.n_train, n_test=args.n_test, storage=args.storage,
                    name=args.name, max_trials=args.max_trials, verbose=0 if args.quiet else 1)
    print_outcome(exp, exp.path)
    return exp


if __name__ == "__main__":
    main()
