"""Stream an extraction: partial values while the model writes, then the validated value.

Runs offline: a local ScriptedChatServer streams the answer (server-sent events,
four characters a chunk) through the official openai client, as OpenAI would.
"""

import asyncio

from extractkit import LocationExtractor, Settings
from extractkit.testing.server import Reply, ScriptedChatServer, Streamed

ANSWER = {"locations": [{"city": "Lyon", "country": "France"}, {"city": "Berlin", "country": "Germany"}]}


async def main(extractor: LocationExtractor) -> None:
    async for update in extractor.extract_stream("nurse jobs Lyon or Berlin"):
        if update.done:
            print("final:", update.value, "| tokens:", update.extraction.usage.total_tokens)
        else:
            # update.value is a partial Locations: fields not yet complete are None;
            # update.in_progress names the string still being written.
            cities = [loc.city for loc in update.value.locations or []]
            print(f"attempt {update.attempt}: cities so far {cities} (writing {update.in_progress})")


with ScriptedChatServer([Reply.json(ANSWER, streaming=Streamed(chunk_size=4))] * 2) as server:
    settings = Settings.from_mapping({"backends": {"openai": {"base_url": server.base_url}}})
    extractor = LocationExtractor(settings=settings)
    asyncio.run(main(extractor))

    # The same from synchronous code; breaking out early closes the stream.
    for update in extractor.extract_stream_sync("nurse jobs Lyon or Berlin"):
        last = update
    assert last.done and [loc.city for loc in last.value.locations] == ["Lyon", "Berlin"]
