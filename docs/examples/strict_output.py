"""Answers are checked against the schema the model was given; how to opt out, per field or per class."""

from typing import Annotated

from pydantic import BaseModel

from extractkit import Extractor, InvalidOutputError, LocationExtractor, Omittable
from extractkit.testing import FakeBackend

# 1. By default a missing or unknown key is an error that is re-asked, never a default.
#    Here the model first answers with the wrong keys, then, told what was wrong, correctly.
answers = [
    {"locations": [{"town": "Paris", "nation": "France"}]},
    {"locations": [{"city": "Paris", "country": "France"}]},
]
fake = FakeBackend(lambda request: answers.pop(0))
result = LocationExtractor(backend=fake, max_attempts=2).extract_sync("flats in Paris")
print(result)
reask = fake.requests[1].messages[-1].content or ""
print(reask)  # one "path: problem" line per key
assert result.locations[0].country == "France"
assert "locations[0].town: unknown property; expected city, country" in reask

# With one attempt, the same answer is a typed error: nothing is filled in.
try:
    LocationExtractor(backend=FakeBackend(lambda r: {}), max_attempts=1).extract_sync("flats in Paris")
except InvalidOutputError as exc:
    print("InvalidOutputError:", exc.errors)  # ['locations: required property missing']
else:
    raise AssertionError("an empty answer must not validate")


# 2. Per field: mark a field the model may leave out; its default then applies.
class Job(BaseModel):
    title: str
    tags: Annotated[list[str], Omittable] = []  # may be left out -> []
    remote: bool = False  # has a default, but must still be answered


class JobExtractor(Extractor[Job]):
    instructions = "Extract the job title, tags and whether it is remote, as JSON."


job = JobExtractor(backend=FakeBackend(lambda r: {"title": "nurse", "remote": False})).extract_sync("nurse")
assert job == Job(title="nurse", tags=[], remote=False)
# The schema shown in prompts (and used to check answers) says tags is optional:
print(JobExtractor().spec.answer_schema["required"])  # ['title', 'remote']


# 3. Per class: pydantic alone, with its defaults for every missing key.
class LenientJobExtractor(JobExtractor):
    strict_output = False


lenient = LenientJobExtractor(backend=FakeBackend(lambda r: {"title": "nurse"}))
assert lenient.extract_sync("x") == Job(title="nurse")
# The same for one instance: JobExtractor(strict_output=False).
