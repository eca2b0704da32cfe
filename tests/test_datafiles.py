import pytest

from sandbox_cms.core.datafiles import read_toml
from sandbox_cms.core.errors import PolicyError, SandboxError


def test_reads_a_table(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text('name = "x"\n[table]\nkey = 1\n', encoding="utf-8")
    assert read_toml(path) == {"name": "x", "table": {"key": 1}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "ok.toml: policy file is missing"),
        (b"name = [", "ok.toml: not valid TOML"),
        (b"name = '\xff'", "ok.toml: not valid TOML"),
    ],
)
def test_problems_raise_the_callers_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "ok.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PolicyError, match=message):
        read_toml(path, PolicyError, "policy file")


def test_a_folder_is_not_a_file(tmp_path):
    with pytest.raises(SandboxError, match="is a folder"):
        read_toml(tmp_path)


def test_the_data_folder_can_be_moved_with_an_environment_variable(tmp_path):
    import shutil
    import subprocess
    import sys

    from sandbox_cms.core.datafiles import DATASETS

    moved = tmp_path / "data"
    shutil.copytree(DATASETS, moved)
    (moved / "scenarios" / "webshop.toml").rename(moved / "scenarios" / "tramp.toml")
    code = "from sandbox_cms.data.scenario import available_scenarios; print(available_scenarios())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PRIVACY_COURSE_DATASETS": str(moved), "PATH": ""})
    assert "'tramp'" in out.stdout and "'webshop'" not in out.stdout
