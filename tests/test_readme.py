"""The README's promises: the library example runs, and the two set-up commands are what CI runs."""

import re
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text()
CI = (Path(__file__).parent.parent / ".ci" / "run").read_text()


def test_library_example_runs_and_trains():
    block = re.search(r"## Library API.*?```python\n(.*?)```", README, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    points = namespace["points"]
    assert points.shape == (1000, 2)
    # After 300 steps the ring's points sit near radius 1, not at the origin where G starts.
    assert 0.5 < points.norm(dim=1).median().item() < 1.5


def test_exactly_two_setup_commands_and_ci_runs_the_test_one():
    setup = re.search(r"## Set-up.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = [line for line in setup.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    assert "gankit train" in commands[0] and "pytest" in commands[1]
    assert commands[1] in CI
