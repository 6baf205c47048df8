"""Model card and Hub upload, hermetic.

The end-to-end test pushes to a loopback stand-in for the Hub API that answers what `create_repo` + `upload_folder`
of huggingface_hub 2.x call. The push runs in a subprocess: huggingface_hub reads HF_ENDPOINT (and HF_HUB_OFFLINE,
which conftest sets for this process) once, when it is imported.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock
from urllib.parse import unquote, urlsplit

import pytest
import torch
import yaml
from huggingface_hub import HfApi, ModelCard, constants
from huggingface_hub.hf_api import CommitInfo

from hfpretrain import GPTConfig, GPTForCausalLM, parameter_breakdown
from hfpretrain.convert import export_llama
from hfpretrain.tokenizer import TokenizerTrainingConfig, train_tokenizer
from hfpretrain.training.hub import push_to_hub, write_model_card

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs.",
    "吾輩は猫である。名前はまだ無い。",
    "どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。",
]
# What a checkpoint folder holds besides the model (accelerate's save_state, an interrupted atomic save).
TRAINING_STATE = [
    "optimizer.bin",
    "scheduler.bin",
    "random_states_0.pkl",
    "scaler.pt",
    "model.safetensors.tmp42",
    "checkpoints/step-10/optimizer.bin",
    "checkpoints/step-10/random_states_1.pkl",
]
METRICS = {"val_loss": 3.2109, "perplexity": 24.8, "bpc": 1.234}
TRAINING = {"steps": 1000, "tokens": 12_345_678, "batch_size": 32, "learning_rate": 3e-4, "hardware": "1x CPU"}
DATA = {"language": "ja", "documents": 1200}


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """A gpt-debug model with remote code, a tokenizer trained here, a log file, and training state to leave behind."""
    root = tmp_path_factory.mktemp("hub")
    folder = root / "model"
    torch.manual_seed(0)
    GPTForCausalLM(GPTConfig.from_preset("gpt-debug")).save_pretrained(folder)
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(CORPUS * 3) + "\n", encoding="utf-8")
    train_tokenizer([str(corpus)], TokenizerTrainingConfig(vocab_size=512, show_progress=False), output=folder)
    (folder / "logs").mkdir()
    (folder / "logs" / "metrics.jsonl").write_text('{"step": 1, "loss": 6.2}\n')
    for name in TRAINING_STATE:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"training state " + name.encode())
    return folder


@pytest.fixture(scope="module")
def llama_folder(model_folder) -> Path:
    """The same model exported to plain transformers Llama (no custom code), with the same tokenizer."""
    folder = model_folder.parent / "llama"
    export_llama(GPTForCausalLM.from_pretrained(model_folder)).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(model_folder / name, folder / name)
    return folder


def front_matter(text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, text[:200]
    return yaml.safe_load(match.group(1))


def usage_code(text: str) -> str:
    return re.search(r"## Usage\n\n```python\n(.*?)```", text, re.DOTALL).group(1)


# ---------------------------------------------------------------------------------------------------------------------
# The model card


def test_model_card_for_remote_code_folder(model_folder):
    path = write_model_card(model_folder, "tester/tiny-gpt", METRICS, TRAINING, DATA)
    text = path.read_text(encoding="utf-8")
    assert path == model_folder / "README.md"

    metadata = front_matter(text)
    assert metadata["library_name"] == "transformers"
    assert metadata["pipeline_tag"] == "text-generation"
    assert metadata["tags"][0] == "hfpretrain" and "custom_code" in metadata["tags"]
    assert metadata["language"] == ["ja"]
    assert ModelCard.load(path).data.pipeline_tag == "text-generation"  # the Hub's own parser agrees

    # Architecture from config.json, parameters from the config's accounting.
    total = parameter_breakdown(GPTConfig.from_preset("gpt-debug"))["total"]
    for row in ("| Layers | 2 |", "| Hidden size | 64 |", "| Attention heads | 4 (2 key/value heads) |"):
        assert row in text
    assert f"| Parameters | {total:,};" in text
    # Metrics, training and data as tables.
    assert "| Metric | Value |\n|---|---|\n| Validation loss | 3.211 |\n| Perplexity | 24.8 |" in text
    assert "| Bits per character | 1.234 |" in text
    assert "| Tokens | 12,345,678 (12.3M) |" in text and "| Learning rate | 0.0003 |" in text
    assert "| Hardware | 1x CPU |" in text and "| Documents | 1,200 |" in text
    # Usage with remote code, a Japanese prompt for a Japanese model.
    code = usage_code(text)
    assert 'AutoTokenizer.from_pretrained("tester/tiny-gpt", trust_remote_code=True)' in code
    assert 'AutoModelForCausalLM.from_pretrained("tester/tiny-gpt", trust_remote_code=True)' in code
    assert "model.generate(" in code and "昔々" in code
    assert "## Limitations" in text


def test_model_card_for_plain_llama_folder(llama_folder):
    text = write_model_card(llama_folder, "tester/tiny-llama", None, None, None).read_text(encoding="utf-8")
    metadata = front_matter(text)
    assert "language" not in metadata and "custom_code" not in metadata["tags"]
    assert "llama" in metadata["tags"]
    assert "trust_remote_code" not in text
    assert 'AutoModelForCausalLM.from_pretrained("tester/tiny-llama")' in usage_code(text)
    # Counted from the safetensors headers: the same parameters as the model it was exported from.
    assert f"| Parameters | {parameter_breakdown(GPTConfig.from_preset('gpt-debug'))['total']:,} |" in text
    # Nothing passed in, nothing claimed.
    assert "No training details were recorded." in text and "No evaluation results were recorded." in text


def test_model_card_needs_a_saved_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        write_model_card(tmp_path, "tester/nothing", None, None, None)


def test_usage_snippets_run(model_folder, llama_folder, tmp_path):
    """Each card's snippet, pointed at the local folder, loads and generates in a fresh process (the remote-code
    one without importing hfpretrain)."""
    scripts = []
    for folder, repo_id in ((model_folder, "tester/tiny-gpt"), (llama_folder, "tester/tiny-llama")):
        code = usage_code(write_model_card(folder, repo_id, None, None, DATA).read_text(encoding="utf-8"))
        code = code.replace(f'"{repo_id}"', repr(str(folder))).replace("max_new_tokens=50", "max_new_tokens=3")
        scripts += [code, "print('snippet done')"]
    scripts.append(
        "import sys; assert not [m for m in sys.modules if m.startswith('hfpretrain')], 'hfpretrain imported'"
    )
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", PYTHONPATH="")
    result = subprocess.run(
        [sys.executable, "-c", "\n".join(scripts)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("snippet done") == 2


# ---------------------------------------------------------------------------------------------------------------------
# push_to_hub without a server: the call sequence and the errors


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub_calls(online):
    """HfApi's network methods replaced by autospec mocks attached to one parent, which records their order."""
    calls = mock.Mock()
    commit = CommitInfo(
        commit_url="https://huggingface.co/tester/tiny/commit/abc", commit_message="", commit_description="", oid="abc"
    )
    returns = {"whoami": {"name": "tester"}, "create_repo": None, "create_branch": None, "upload_folder": commit}
    patches = [mock.patch.object(HfApi, name, autospec=True, return_value=value) for name, value in returns.items()]
    for name, patch in zip(returns, patches, strict=True):
        calls.attach_mock(patch.start(), name)
    yield calls
    for patch in patches:
        patch.stop()


def test_push_creates_repo_then_uploads(model_folder, hub_calls):
    url = push_to_hub(model_folder, "tiny", private=True, token="hf_given")
    assert url == "https://huggingface.co/tester/tiny/commit/abc"
    assert [c[0] for c in hub_calls.mock_calls] == ["whoami", "create_repo", "upload_folder"]
    whoami, create, upload = hub_calls.mock_calls
    assert whoami.args[0].token == "hf_given"  # the HfApi instance carries the token for every call
    assert create.args[1:] == ("tester/tiny",)  # a bare name goes to the token owner's namespace
    assert create.kwargs == {"private": True, "exist_ok": True}
    assert upload.kwargs["repo_id"] == "tester/tiny" and upload.kwargs["folder_path"] == model_folder
    assert upload.kwargs["commit_message"] == "Upload model"
    assert upload.kwargs["revision"] is None and upload.kwargs["create_pr"] is False
    assert {"*.pt", "optimizer*", "*/optimizer*", "random_states*", "*.tmp*"} <= set(upload.kwargs["ignore_patterns"])


def test_push_to_a_branch_or_a_pull_request(model_folder, hub_calls):
    push_to_hub(model_folder, "org/tiny", token="hf_given", revision="step-10", commit_message="Step 10")
    assert [c[0] for c in hub_calls.mock_calls] == ["whoami", "create_repo", "create_branch", "upload_folder"]
    create, branch, upload = hub_calls.mock_calls[1:]
    assert create.args[1:] == ("org/tiny",) and create.kwargs["private"] is None  # the Hub's default visibility
    assert branch.args[1:] == ("org/tiny",) and branch.kwargs == {"branch": "step-10", "exist_ok": True}
    assert upload.kwargs["revision"] == "step-10" and upload.kwargs["commit_message"] == "Step 10"

    # (`reset_mock` on a parent of autospec mocks fails on Python 3.11: compare only the new calls.)
    before = len(hub_calls.mock_calls)
    push_to_hub(model_folder, "org/tiny", token="hf_given", create_pr=True)
    assert [c[0] for c in hub_calls.mock_calls[before:]] == ["whoami", "create_repo", "upload_folder"]
    assert hub_calls.mock_calls[-1].kwargs["create_pr"] is True and hub_calls.mock_calls[-1].kwargs["revision"] is None

    before = len(hub_calls.mock_calls)
    with pytest.raises(ValueError, match="choose one"):
        push_to_hub(model_folder, "org/tiny", token="hf_given", create_pr=True, revision="dev")
    assert len(hub_calls.mock_calls) == before


def test_push_errors_say_what_to_do(model_folder, tmp_path, hub_calls, monkeypatch):
    with pytest.raises(FileNotFoundError, match="No model folder"):
        push_to_hub(tmp_path / "missing", "tester/tiny", token="hf_given")

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no_token"))  # no stored login either
    with pytest.raises(RuntimeError, match=r"hf auth login.*HF_TOKEN"):
        push_to_hub(model_folder, "tester/tiny")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(RuntimeError, match=r"HF_HUB_OFFLINE=1.*unset HF_HUB_OFFLINE"):
        push_to_hub(model_folder, "tester/tiny", token="hf_given")
    assert hub_calls.mock_calls == []  # every check runs before the first request


# ---------------------------------------------------------------------------------------------------------------------
# push_to_hub against a loopback stand-in for the Hub


class StandInHub:
    """Answers the Hub API calls of `create_repo` + `create_branch` + `upload_folder` (huggingface_hub 2.x, every
    file declared a regular git blob) on 127.0.0.1, and records every request, repo, branch and commit."""

    user, token = "tester", "hf_fake"
    routes = [
        ("GET", r"/api/whoami-v2", "whoami"),
        ("POST", r"/api/repos/create", "create_repo"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/preupload/(?P<revision>[^/]+)", "preupload"),
        ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/commit/(?P<revision>[^/]+)", "commit"),
        ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/branch/(?P<branch>[^/]+)", "create_branch"),
    ]

    def __init__(self):
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every request
        self.repos: list[dict] = []  # bodies of repo-create calls
        self.branches: list[tuple[str, str]] = []
        self.validated: list[str] = []  # README contents sent for metadata validation
        self.commits: list[dict] = []  # repo, revision, summary, files {path: bytes}, other (non-file lines)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _handler_class(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, answer = hub.answer(self.command, urlsplit(self.path).path, self.headers, body)
                hub.log.append((self.command, self.path, status))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_any

            def log_message(self, *args):  # the log above replaces stderr lines
                pass

        return Handler

    def answer(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict]:
        for route_method, pattern, name in self.routes:
            match = re.fullmatch(pattern, path)
            if method == route_method and match:
                if headers.get("Authorization") != f"Bearer {self.token}":
                    return 401, {"error": "Invalid credentials in Authorization header"}
                return getattr(self, name)(body, **{k: unquote(v) for k, v in match.groupdict().items()})
        return 404, {"error": f"the stand-in does not implement {method} {path}"}

    def whoami(self, body):
        return 200, {"type": "user", "name": self.user, "auth": {"type": "access_token"}, "orgs": []}

    def create_repo(self, body):
        request = json.loads(body)
        self.repos.append(request)
        return 200, {"url": f"{self.endpoint}/{request['organization'] or self.user}/{request['name']}"}

    def validate_yaml(self, body):
        self.validated.append(json.loads(body)["content"])
        return 200, {"errors": [], "warnings": []}

    def preupload(self, body, repo, revision):
        files = json.loads(body)["files"]
        return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}

    def commit(self, body, repo, revision):
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        files = {
            line["value"]["path"]: base64.b64decode(line["value"]["content"]) for line in lines if line["key"] == "file"
        }
        other = [line for line in lines if line["key"] not in ("header", "file")]
        self.commits.append(dict(repo=repo, revision=revision, summary=header["summary"], files=files, other=other))
        oid = hashlib.sha1(body).hexdigest()
        return 200, {"commitUrl": f"{self.endpoint}/{repo}/commit/{oid}", "commitOid": oid, "success": True}

    def create_branch(self, body, repo, branch):
        self.branches.append((repo, branch))
        return 200, {}


PUSH_SCRIPT = """
import json, sys
from hfpretrain.training.hub import push_to_hub

folder = sys.argv[1]
out = {}
try:
    push_to_hub(folder, "tiny-gpt", token="hf_wrong")
except RuntimeError as e:
    out["wrong_token"] = str(e)
out["private"] = push_to_hub(folder, "tiny-gpt", private=True)  # a bare name: the token owner's namespace
out["branch"] = push_to_hub(folder, "tester/tiny-gpt", revision="step-10", commit_message="Step 10")
print(json.dumps(out))
"""


def test_push_to_loopback_hub(model_folder, tmp_path):
    readme = write_model_card(model_folder, "tester/tiny-gpt", METRICS, TRAINING, DATA).read_text(encoding="utf-8")
    with StandInHub() as hub:
        env = dict(
            os.environ,
            HF_ENDPOINT=hub.endpoint,
            HF_HUB_OFFLINE="0",
            HF_TOKEN=hub.token,
            HF_HOME=str(tmp_path / "hf_home"),
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_DISABLE_TELEMETRY="1",
        )
        result = subprocess.run(
            [sys.executable, "-c", PUSH_SCRIPT, str(model_folder)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    requests = "\n".join(f"{status} {method} {path}" for method, path, status in hub.log)
    assert result.returncode == 0, f"{result.stderr[-3000:]}\nrequests:\n{requests}"
    out = json.loads(result.stdout.strip().splitlines()[-1])

    # A rejected token stops at whoami, with a message that says how to log in.
    assert next(entry for entry in hub.log if entry[1] == "/api/whoami-v2") == ("GET", "/api/whoami-v2", 401)
    assert "hf auth login" in out["wrong_token"] and "HF_TOKEN" in out["wrong_token"]

    # Two pushes: private to main, then to a new branch, each one commit of the model without its training state.
    assert hub.repos == [
        {"name": "tiny-gpt", "organization": "tester", "visibility": "private"},
        {"name": "tiny-gpt", "organization": "tester"},
    ]
    assert hub.branches == [("tester/tiny-gpt", "step-10")]
    assert [(c["repo"], c["revision"], c["summary"]) for c in hub.commits] == [
        ("tester/tiny-gpt", "main", "Upload model"),
        ("tester/tiny-gpt", "step-10", "Step 10"),
    ]
    assert out["private"] == f"{hub.endpoint}/tester/tiny-gpt/commit/{out['private'].rsplit('/', 1)[-1]}"
    assert out["branch"].startswith(f"{hub.endpoint}/tester/tiny-gpt/commit/") and out["branch"] != out["private"]

    local = {p.relative_to(model_folder).as_posix() for p in model_folder.rglob("*") if p.is_file()}
    model_files = {"config.json", "model.safetensors", "modeling_gpt.py", "configuration_gpt.py", "README.md"}
    model_files |= {"tokenizer.json", "tokenizer_config.json", "logs/metrics.jsonl"}
    for commit in hub.commits:
        assert model_files <= set(commit["files"])
        assert set(commit["files"]) == local - set(TRAINING_STATE)  # everything else, nothing of the state
        assert commit["other"] == []  # no LFS pointers, no deletions
        for path, content in commit["files"].items():
            assert content == (model_folder / path).read_bytes(), path
    readme_sent = hub.commits[0]["files"]["README.md"].decode()
    assert readme_sent == readme and "tester/tiny-gpt" in readme_sent and "trust_remote_code=True" in readme_sent
    assert hub.validated == [readme, readme]  # the client validated the card's metadata before each upload
