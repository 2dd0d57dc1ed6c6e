"""Drives goru with the official MCP Python SDK and prints what it saw as JSON.

    client.py http://127.0.0.1:PORT/mcp auto|legacy [REST_SESSION_ID]
    client.py stdio:/path/to/goru:/path/to/goru.toml auto|legacy

The Rust test (tests/mcp.rs) starts goru and judges the report: this script
only calls tools and records every answer, so a broken server shows up as a
wrong report, never as a silently skipped step.
"""

import asyncio
import base64
import json
import os
import sys

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError


def blocks(result):
    """The content blocks of a tool result, as plain JSON."""
    out = []
    for block in result.content:
        item = {"type": block.type}
        if block.type == "text":
            item["text"] = block.text
        elif block.type == "image":
            item["mime_type"] = block.mime_type
            item["png"] = base64.b64decode(block.data)[:8] == b"\x89PNG\r\n\x1a\n"
        elif block.type == "resource":
            resource = block.resource
            item["uri"] = str(resource.uri)
            item["mime_type"] = resource.mime_type
            item["text"] = getattr(resource, "text", None)
            item["blob"] = getattr(resource, "blob", None)
        out.append(item)
    return out


async def call(client, name, args):
    try:
        result = await client.call_tool(name, args)
    except MCPError as exc:
        return {"protocol_error": str(exc)}
    return {"is_error": bool(result.is_error), "content": blocks(result)}


def text_of(answer):
    return "\n".join(b.get("text") or "" for b in answer.get("content", []) if b["type"] == "text")


async def scenario(target, mode, rest_session):
    report = {}
    async with Client(target, mode=mode) as client:
        report["protocol_version"] = client.protocol_version
        tools = await client.list_tools()
        report["tools"] = {t.name: {"description": t.description, "schema": t.input_schema} for t in tools.tools}
        report["hello"] = await call(client, "run_code", {"code": "print(1 + 1)\n6 * 7", "language": "python"})
        report["hello_js"] = await call(
            client, "run_code", {"code": "console.log(1 + 1)\nawait Promise.resolve(6 * 7)", "language": "javascript"}
        )
        report["exception_js"] = await call(
            client, "run_code", {"code": "null.x", "language": "javascript"}
        )
        report["files"] = await call(
            client,
            "run_code",
            {
                "code": "text = open('in/data.txt').read()\nopen('out.csv', 'w').write(text.upper())\nprint(len(text))",
                "language": "python",
                "files": [{"path": "in/data.txt", "content": "a,b\n1,2\n"}],
            },
        )
        report["exception"] = await call(client, "run_code", {"code": "raise ValueError('boom')", "language": "python"})
        report["timeout"] = await call(client, "run_code", {"code": "while True:\n    pass", "language": "python"})
        report["missing_module"] = await call(client, "run_code", {"code": "import torch", "language": "python"})
        # A public name: a loopback address would be refused even if granted.
        report["network"] = await call(
            client, "run_code", {"code": "http_get('https://example.com/')", "language": "python"}
        )
        report["flood"] = await call(
            client,
            "run_code",
            {"code": "for _ in range(3000):\n    print('x' * 1000)\nraise ValueError('y' * 3_000_000)", "language": "python"},
        )
        report["widen_policy"] = await call(
            client,
            "run_code",
            {"code": "print(1)", "policy": {"allowed_hosts": ["*"], "timeout_ms": 60000}},
        )
        created = await call(client, "create_session", {"language": "python-sci"})
        report["create_session"] = created
        session_id = next(
            (line.split(": ", 1)[1] for line in text_of(created).splitlines() if line.startswith("session_id: ")),
            None,
        )
        report["session_id"] = session_id
        report["cell_1"] = await call(client, "run_code", {"code": "x = 20\nimport pandas as pd", "session_id": session_id})
        report["cell_2"] = await call(
            client,
            "run_code",
            {
                "code": "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nx + 22",
                "session_id": session_id,
            },
        )
        report["wrong_language"] = await call(
            client, "run_code", {"code": "x", "session_id": session_id, "language": "python"}
        )
        # Left open: the Rust test checks that the REST API cannot reach it.
        kept = await call(client, "create_session", {"language": "python"})
        report["kept_session_id"] = next(
            (line.split(": ", 1)[1] for line in text_of(kept).splitlines() if line.startswith("session_id: ")),
            None,
        )
        report["close_session"] = await call(client, "close_session", {"session_id": session_id})
        report["after_close"] = await call(client, "run_code", {"code": "x", "session_id": session_id})
        if rest_session:
            report["rest_session"] = await call(client, "run_code", {"code": "print(1)", "session_id": rest_session})
        report["isolation"] = await call(
            client, "run_code", {"code": "x", "language": "python-sci"}
        )
        report["runtimes"] = await call(client, "list_runtimes", {})
    return report


def main():
    target, mode = sys.argv[1], sys.argv[2]
    rest_session = sys.argv[3] if len(sys.argv) > 3 else None
    if target.startswith("stdio:"):
        _, binary, config = target.split(":", 2)
        target = StdioServerParameters(
            command=binary,
            args=["mcp", "--config", config],
            env={"GORU_CACHE_DIR": os.environ["GORU_CACHE_DIR"], "PATH": os.environ.get("PATH", "")},
        )
    report = asyncio.run(scenario(target, mode, rest_session))
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
