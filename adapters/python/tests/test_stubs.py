"""The stand-in bindings match what componentize-py generates: compared
with target/python-bindings/stubs (written by build.sh) when it exists."""

import _setup
import dataclasses
import enum
import importlib.util
import unittest

from handover_sdk.stubs import provider_types

GENERATED = _setup.REPO / "target" / "python-bindings" / "stubs" / "wit_world" / "imports" / "handover_provider_types.py"


def shapes(module):
    out = {}
    for name, value in vars(module).items():
        if isinstance(value, type) and value.__module__ == module.__name__:
            if dataclasses.is_dataclass(value):
                out[name] = [f.name for f in dataclasses.fields(value)]
            elif issubclass(value, enum.Enum):
                out[name] = [(m.name, m.value) for m in value]
    return out


@unittest.skipUnless(GENERATED.exists(), "no generated bindings yet (run adapters/python/build.sh once)")
class Parity(unittest.TestCase):
    def test_same_names_fields_and_enum_values(self):
        spec = importlib.util.spec_from_file_location("generated_provider_types", GENERATED)
        generated = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(generated)
        self.assertEqual(shapes(provider_types), shapes(generated))


if __name__ == "__main__":
    unittest.main()
