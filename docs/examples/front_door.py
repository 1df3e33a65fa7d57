"""The front door: any output type in one call, and the class it makes.

Runs offline: a scripted local server plays the model. Against OpenAI you would
only set OPENAI_API_KEY and drop the server and the settings.
"""

import asyncio

from pydantic import BaseModel

import extractkit
from extractkit import Extractor, Settings
from extractkit.testing.server import Reply, ScriptedChatServer


class Skills(BaseModel):
    skills: list[str]


answers = [Reply.json({"skills": ["Python", "SQL", "Go"]}), Reply.json({"skills": ["Rust"]})]
with ScriptedChatServer(answers) as server:
    settings = Settings.from_mapping({"backends": {"openai": {"base_url": server.base_url}}})

    # One call, blocking: the type is an argument, no class to write.
    skills = extractkit.extract_sync("Python and SQL, some Go", Skills, settings=settings)
    print(skills)  # skills=['Python', 'SQL', 'Go']
    assert skills.skills == ["Python", "SQL", "Go"]

    # The async twin, with its own instructions.
    more = asyncio.run(
        extractkit.extract("Rust, ideally", Skills, instructions="List the skills.", settings=settings)
    )
    assert more.skills == ["Rust"]

# Behind each call is a named Extractor subclass: its config key is "skills",
# so [extractors.skills] model = "..." in extractkit.toml swaps its model.
SkillsExtractor = Extractor.from_type(Skills)
print(SkillsExtractor.__name__, SkillsExtractor.name)  # SkillsExtractor skills
configured = Settings.from_mapping({"extractors": {"skills": {"model": "openai:gpt-4o"}}})
assert str(SkillsExtractor(settings=configured).resolve_model()) == "openai:gpt-4o"
