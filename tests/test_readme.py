"""The README's Python examples run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["family"].optimal_return(3) == 0.95
    assert namespace["vec_env"].get_attr("task_id") == [802, 803]
    bench = namespace["bench"]
    assert (len(bench.train_tasks), len(bench.validation_tasks), len(bench.test_tasks)) == (
        720,
        80,
        200,
    )
    for name in ("env", "envs", "vec_env"):
        if name in namespace:
            namespace[name].close()
