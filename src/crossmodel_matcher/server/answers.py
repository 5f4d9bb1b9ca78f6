"""MCP glue for answers: one answer model per tool (concise | detailed), its small published
output schema, and the CallToolResult with its compact text block.

The answer models validate every structured result on the server with the full pydantic
models. What tools/list publishes is smaller: no titles, no per-field prose (SKILL.md documents
every field), nullable types as type arrays; the concise arm fully typed, the detailed arm typed
at its top level (nested objects as plain objects), shared definitions once under $defs.
"""

from typing import Annotated, Any, Union

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import Tool as MCPTool
from pydantic import BaseModel, Discriminator, RootModel, Tag, ValidationError

from crossmodel_matcher.answer_schemas import (
    AlignmentSummaryAnswer,
    ComparisonBatch,
    ComparisonConcise,
    ComparisonReportDetailed,
    DecompositionConcise,
    DecompositionReportDetailed,
    FeatureConcise,
    FeatureSummaryDetailed,
    MatchReportConcise,
    MatchReportDetailed,
    PairInfoAnswer,
    UniqueFeaturesConcise,
    UniqueFeaturesPageDetailed,
)

_DROP = ("title", "description", "default", "additionalProperties")
_META = ("truncated", "total_items", "how_to_narrow")  # documented in SKILL.md


def compact_schema(node: Any) -> Any:
    """A JSON schema without titles, prose or defaults; `anyOf [T, null]` as `type: [T, "null"]`;
    no `type` beside an `enum` or `const`."""
    if isinstance(node, list):
        return [compact_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: compact_schema(v) for k, v in node.items() if k not in _DROP}
    if "properties" in node:
        out["properties"] = {k: compact_schema(v) for k, v in node["properties"].items()}
    if ("enum" in out or "const" in out) and isinstance(out.get("type"), str):
        del out["type"]  # the values say it
    arms = out.get("anyOf")
    if isinstance(arms, list) and len(arms) == 2 and {"type": "null"} in arms:
        other = next(a for a in arms if a != {"type": "null"})
        if isinstance(other.get("type"), str):
            del out["anyOf"]
            out.update(other, type=[other["type"], "null"])
    return out


def _names_only(schema: dict) -> dict:
    """A detailed arm: its field names (SKILL.md has their types) and its response_format.

    The server validates every detailed answer against its full model; tools/list carries only
    the names, which keeps the listing small enough for an agent's context.
    """
    props = {k: {} for k in schema["properties"] if k not in _META}
    if "response_format" in schema["properties"]:
        props["response_format"] = schema["properties"]["response_format"]
    return {"type": "object", "properties": props}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with every local `$ref` replaced by its definition (each is used once per arm:
    inline, a client's validator resolves nothing, which roughly halves its time)."""
    if isinstance(node, list):
        return [_inline(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    return {k: _inline(v, defs) for k, v in node.items()}


def published_schema(concise: list[type[BaseModel]], detailed: list[type[BaseModel]]) -> dict:
    """The output schema tools/list shows: the concise arm typed in full, the detailed arm by
    its field names; a tool with one format (no concise arm) typed in full."""
    arms = []
    for cls in concise + detailed:
        schema = cls.model_json_schema(ref_template="#/$defs/{model}")
        schema = _inline({k: v for k, v in schema.items() if k != "$defs"}, schema.get("$defs", {}))
        if cls in concise or not concise:
            schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in _META}
            arms.append(compact_schema(schema))
        else:
            arms.append(compact_schema(_names_only(schema)))
    return arms[0] if len(arms) == 1 else {"type": "object", "anyOf": arms}


def _tag(value: Any) -> str | None:
    get = value.get if isinstance(value, dict) else lambda k, d=None: getattr(value, k, d)
    return "batch" if get("comparisons") is not None else get("response_format")


def answer_model(name: str, concise: type[BaseModel] | None, detailed: type[BaseModel],
                 batch: type[BaseModel] | None = None) -> type[BaseModel]:
    """The output model of one tool (the union of its answers), with its published schema."""
    if concise is None:
        model: Any = type(name, (detailed,), {})
    else:
        arms = [Annotated[concise, Tag("concise")], Annotated[detailed, Tag("detailed")]]
        if batch is not None:
            arms.append(Annotated[batch, Tag("batch")])
        union = Annotated[Union[tuple(arms)], Discriminator(_tag)]  # noqa: UP007 - a runtime tuple
        model = type(name, (RootModel[union],), {})
    model.published_schema = published_schema(
        [concise] if concise is not None else [], [detailed] + ([batch] if batch is not None else [])
    )
    return model


ANSWERS = {
    "find_matches": answer_model("FindMatchesAnswer", MatchReportConcise, MatchReportDetailed),
    "compare_features": answer_model(
        "CompareFeaturesAnswer", ComparisonConcise, ComparisonReportDetailed, ComparisonBatch
    ),
    "find_decomposition": answer_model(
        "FindDecompositionAnswer", DecompositionConcise, DecompositionReportDetailed
    ),
    "describe_feature": answer_model("DescribeFeatureAnswer", FeatureConcise, FeatureSummaryDetailed),
    "list_unique_features": answer_model(
        "UniqueFeaturesAnswer", UniqueFeaturesConcise, UniqueFeaturesPageDetailed
    ),
    "list_models": answer_model("ListModelsAnswer", None, PairInfoAnswer),
    "pair_alignment": answer_model("PairAlignmentAnswer", None, AlignmentSummaryAnswer),
}
"""Tool name -> its output model (what the server validates each answer against)."""


class AnswerServer(MCPServer):
    """MCPServer whose tools/list shows each tool's small published output schema, and whose
    errors are one sentence each, prefixed by the tool's name (no validation-library wrapper)."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(f"{name}: {argument_errors(name, cause)}") from cause
            text = str(exc).removeprefix(f"Error executing tool {name}: ")
            raise ToolError(f"{name}: {text}") from cause

    async def list_tools(self) -> list[MCPTool]:
        tools = await super().list_tools()
        for tool in tools:
            model = ANSWERS.get(tool.name)
            if model is not None:
                tool.output_schema = model.published_schema
            tool.input_schema = compact_input_schema(tool.input_schema)
        return tools


def compact_input_schema(schema: dict) -> dict:
    """An input schema without titles; an optional argument's `anyOf [T, null]` as one type list."""
    props = {}
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        arms = prop.get("anyOf")
        if isinstance(arms, list) and len(arms) == 2 and {"type": "null"} in arms:
            other = next(a for a in arms if a != {"type": "null"})
            if isinstance(other.get("type"), str):
                del prop["anyOf"]
                prop = {**other, **prop, "type": [other["type"], "null"]}
        props[name] = prop
    return {**{k: v for k, v in schema.items() if k != "title"}, "properties": props}


def argument_errors(tool: str, exc: ValidationError) -> str:
    """One clause per rejected argument: what is valid (the server's own sentences)."""
    out = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "invalid_argument":
            out.append(err["msg"])
        elif err["type"] == "missing":
            out.append(f"{name} is required")
        elif err["type"] == "extra_forbidden":
            out.append(f"{name} is not an argument of {tool}")
        else:
            out.append(f"{name}: {err['msg']}")
    return "; ".join(dict.fromkeys(out))
