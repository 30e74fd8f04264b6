"""The JSON shapes of the REST API (pydantic), which are also what ``/docs`` shows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def _valid_unicode(text: str) -> str:
    """Reject lone surrogates (``"\\ud800"`` is valid JSON but not text): they cannot be
    tokenised, and would otherwise fail deep inside the model."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"invalid Unicode at character {e.start} (a lone surrogate)") from None
    return text


def _request_schema(schema: dict[str, Any]) -> None:
    """Say in the OpenAPI spec what the validator enforces: one of the two, never null."""
    props = schema["properties"]
    props["text"] = {"type": "string", "title": "Text", "description": "One text to tag."}
    props["texts"] = {
        "type": "array",
        "items": {"type": "string"},
        "title": "Texts",
        "description": "Several texts, tagged together and answered in order.",
    }
    schema["oneOf"] = [{"required": ["text"]}, {"required": ["texts"]}]
    schema["examples"] = [{"text": "Redis runs on Linux"}, {"texts": ["I use Rust.", "On Ubuntu"]}]
    schema["additionalProperties"] = False


class EntitiesRequest(BaseModel):
    """Exactly one of ``text`` (one document) or ``texts`` (several, tagged as a batch)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_request_schema,
    )

    # Typed ``str``, defaulting to None: an absent field is None, an explicit null is a
    # validation error (defaults are not validated, inputs are).
    text: str = None  # type: ignore[assignment]
    texts: list[str] = None  # type: ignore[assignment]
    scheme: str | None = Field(
        default=None,
        description="Label scheme of the answer; the model's own when absent.",
    )

    @field_validator("text")
    @classmethod
    def _text_unicode(cls, v: str) -> str:
        return _valid_unicode(v)

    @field_validator("texts")
    @classmethod
    def _texts_unicode(cls, v: list[str]) -> list[str]:
        return [_valid_unicode(t) for t in v]

    @model_validator(mode="after")
    def _one_of(self) -> EntitiesRequest:
        if len(self.model_fields_set & {"text", "texts"}) != 1:
            raise ValueError('give exactly one of "text" or "texts"')
        return self


class EntityOut(BaseModel):
    start: int = Field(description="Offset of the first character (Unicode code points).")
    end: int = Field(description="Offset after the last character: text[start:end].")
    label: str = Field(description="Entity type, e.g. Library or Operating_System.")
    text: str = Field(description="The mention, exactly text[start:end].")
    score: float = Field(ge=0.0, le=1.0, description="Model confidence.")


class ModelInfo(BaseModel):
    name: str
    version: str
    runtime: str | None = None
    serkit_version: str


class TextResult(BaseModel):
    entities: list[EntityOut]


class EntitiesResponse(BaseModel):
    """``entities`` answers ``{"text"}``; ``results`` (one per text, in order) ``{"texts"}``."""

    model: ModelInfo
    entities: list[EntityOut] | None = None
    results: list[TextResult] | None = None


class LabelsResponse(BaseModel):
    labels: list[str] = Field(description="The model's IOB2 tags, O first.")
    types: list[str] = Field(description="Entity types (labels without B-/I-).")


class HealthResponse(BaseModel):
    status: str
    model: ModelInfo
    pending: int = Field(description="Requests accepted and not yet answered by the model.")
    pending_chars: int = Field(description="Characters of those requests not yet tagged.")


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. text_too_long.")
    message: str = Field(description="What went wrong, for people.")


class ErrorBody(BaseModel):
    """Every error response (4xx and 5xx) has this body."""

    error: ErrorDetail


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
