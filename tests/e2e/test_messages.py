"""End-to-end: the Anthropic Messages API (`/v1/messages`) through `vllm-sr serve` in front of
`vllm-sr sim-backend`, driven by the official `anthropic` client; and tool calls through chat
completions with the official `openai` client."""
import json

import pytest

from conftest import config_yaml, http, sim

anthropic = pytest.importorskip("anthropic")

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}
ASK = {"role": "user", "content": "What does get_weather say for Oslo?"}


@pytest.fixture
def stack(spawn, router):
    s = sim(spawn, models="a-up,b,claude-up")
    ep = f"127.0.0.1:{s.port}"
    yaml = config_yaml([ep], [ep]).replace(
        "routing:\n",
        "    - name: c\n"
        "      provider_model_id: claude-up\n"
        "      api_format: anthropic\n"
        f'      backend_refs: [{{name: be0, endpoint: "{ep}", api_key: sk-ant-configured}}]\n'
        "routing:\n",
        1,
    )
    r = router(yaml)
    return r, s


def aclient(r):
    return anthropic.Anthropic(base_url=r.url, api_key="sk-test", max_retries=0)


def test_messages_non_streaming_with_system_prompt(stack):
    r, _ = stack
    raw = aclient(r).messages.with_raw_response.create(
        model="MoM",
        max_tokens=64,
        system="You are terse.",
        messages=[{"role": "user", "content": "hello there"}],
    )
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text" and msg.content[0].text
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == len(msg.content[0].text.split(" "))
    assert msg.usage.input_tokens > 0
    assert raw.headers["x-vsr-selected-model"] in ("a", "b")
    assert raw.headers["x-vsr-selected-reasoning"] in ("on", "off")


def test_messages_streaming(stack):
    r, _ = stack
    with aclient(r).messages.stream(
        model="b", max_tokens=64, messages=[{"role": "user", "content": "stream please"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("[b]")
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == len(text.split(" "))


def test_tool_use_round_trip(stack):
    r, _ = stack
    client = aclient(r)
    msg = client.messages.create(model="a", max_tokens=100, tools=[WEATHER], messages=[ASK])
    assert msg.stop_reason == "tool_use"
    call = next(b for b in msg.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"city": "sim"}

    # The same call, streamed: the client assembles the input from input_json_delta events.
    with client.messages.stream(model="a", max_tokens=100, tools=[WEATHER], messages=[ASK]) as stream:
        streamed = stream.get_final_message()
    scall = next(b for b in streamed.content if b.type == "tool_use")
    assert scall.name == "get_weather" and scall.input == {"city": "sim"}
    assert streamed.stop_reason == "tool_use"

    answer = client.messages.create(
        model="a",
        max_tokens=100,
        tools=[WEATHER],
        messages=[
            ASK,
            {"role": "assistant", "content": msg.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}],
            },
        ],
    )
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].text == "[a-up] the tool said: sunny, 21C"


def test_errors_use_anthropic_types(stack):
    r, _ = stack
    with pytest.raises(anthropic.NotFoundError) as e:
        aclient(r).messages.create(model="nope", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as e:
        aclient(r).messages.create(
            model="a", max_tokens=5, messages=[{"role": "user", "content": [{"type": "video"}]}]
        )
    assert "messages[0].content[0].type" in e.value.body["error"]["message"]
    status, _, body = http("POST", r.url + "/v1/messages", b"{broken")
    assert status == 400
    assert json.loads(body)["type"] == "error"


def test_anthropic_alias_receives_the_request_untranslated(stack):
    r, _ = stack
    client = aclient(r)
    msg = client.messages.create(
        model="c",
        max_tokens=32,
        system=[{"type": "text", "text": "sys prompt"}],
        messages=[{"role": "user", "content": "hi"}],
    )
    sent = msg.model_extra["sim_request"]
    assert sent["model"] == "claude-up"
    assert sent["system"] == [{"type": "text", "text": "sys prompt"}]
    assert "stream_options" not in sent
    # The configured key replaces the client's, in the Anthropic header.
    assert msg.model_extra["sim_headers"]["x-api-key"] == "sk-ant-configured"
    with client.messages.stream(model="c", max_tokens=32, messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text.startswith("[claude-up]")
    assert final.usage.output_tokens > 0


def test_openai_client_tool_calls(stack):
    r, _ = stack
    client = r.client()
    tools = [
        {
            "type": "function",
            "function": {
                "name": WEATHER["name"],
                "description": WEATHER["description"],
                "parameters": WEATHER["input_schema"],
            },
        }
    ]
    ask = {"role": "user", "content": ASK["content"]}
    c = client.chat.completions.create(model="MoM", messages=[ask], tools=tools)
    choice = c.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "sim"}

    stream = client.chat.completions.create(model="MoM", messages=[ask], tools=tools, stream=True)
    name, args, finish = "", "", None
    for chunk in stream:
        if not chunk.choices:
            continue
        for d in chunk.choices[0].delta.tool_calls or []:
            name += d.function.name or ""
            args += d.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert name == "get_weather" and json.loads(args) == {"city": "sim"} and finish == "tool_calls"

    follow = client.chat.completions.create(
        model="MoM",
        tools=tools,
        messages=[
            ask,
            {"role": "assistant", "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "cloudy"},
        ],
    )
    assert follow.choices[0].message.content.endswith("the tool said: cloudy")


def test_openai_client_through_an_anthropic_alias(stack):
    """Chat completions routed to an `api_format: anthropic` alias go out as a Messages request
    and come back as chat (surface spec §2.10), tools and streaming included."""
    r, _ = stack
    client = r.client()
    tools = [{"type": "function", "function": {"name": WEATHER["name"], "parameters": WEATHER["input_schema"]}}]
    ask = {"role": "user", "content": ASK["content"]}
    raw = client.chat.completions.with_raw_response.create(
        model="c", messages=[{"role": "system", "content": "be brief"}, ask], tools=tools
    )
    assert raw.headers["x-vsr-selected-model"] == "c"
    c = raw.parse()
    assert c.choices[0].finish_reason == "tool_calls"
    call = c.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "sim"}
    assert c.usage.prompt_tokens > 0 and c.usage.completion_tokens > 0

    follow = client.chat.completions.create(
        model="c",
        tools=tools,
        messages=[
            ask,
            {"role": "assistant", "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
    )
    assert follow.choices[0].message.content.endswith("the tool said: sunny")

    stream = client.chat.completions.create(
        model="c", messages=[{"role": "user", "content": "stream it"}], stream=True
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        usage = chunk.usage or usage
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert text.startswith("[claude-up]") and finish == "stop"
    assert usage is not None and usage.completion_tokens == len(text.split(" "))
