import pytest

from sandbox_cms.datafiles import read_toml
from sandbox_cms.errors import PolicyError, SandboxError


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
