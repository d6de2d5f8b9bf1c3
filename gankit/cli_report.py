"""`gankit report` (an HTML page for one or more runs) and `gankit doctor` (check a dataset)."""

import json
from pathlib import Path

from gankit.errors import GankitError


def add_parsers(sub) -> None:
    r = sub.add_parser("report", help="write a self-contained HTML report of one run, or of several side by side")
    r.add_argument("runs", nargs="+", metavar="RUN", help="run directory (holds log.jsonl)")
    r.add_argument("--out", help="HTML file (default: RUN/report.html for one run, ./report.html for several)")
    d = sub.add_parser("doctor", help="check a dataset before training: sizes, modes, broken files, duplicates, "
                       "classes, and a recommended command")
    d.add_argument("path", metavar="PATH_OR_DATASET",
                   help="folder of images (searched recursively), .zip, or a built-in dataset: fashion-mnist, digits")
    d.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")


def cmd_report(args) -> int:
    from gankit.report import write_report

    runs = [Path(r) for r in args.runs]
    if args.out:
        out = Path(args.out)
    else:
        out = runs[0] / "report.html" if len(runs) == 1 else Path("report.html")
    if out.exists() and out.is_dir():
        raise GankitError(f"--out {out} is a directory; give a file name such as {out / 'report.html'}")
    path = write_report(runs, out)
    print(f"wrote {path}")
    return 0


def cmd_doctor(args) -> int:
    """Exit code 0 when the data has at least one usable image, 2 when it has none."""
    from gankit.doctor import diagnose, print_diagnosis

    report = diagnose(args.path)
    if args.json:
        print(json.dumps(report))
    else:
        print_diagnosis(report)
    return 0 if report["usable"] else 2
