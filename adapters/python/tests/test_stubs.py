"""The stand-in bindings match what componentize-py generates: compared
with target/python-bindings/stubs (written by build.sh) when it exists."""

import _setup
import dataclasses
import enum
import importlib.util
import unittest

from handover_sdk.stubs import provider_types, provider_types_v0_2

BINDINGS = _setup.REPO / "target" / "python-bindings"
GENERATED = BINDINGS / "stubs" / "wit_world" / "imports" / "handover_provider_types.py"
GENERATED_0_2 = BINDINGS / "stubs-0.2.0" / "wit_world" / "imports" / "handover_provider_types.py"


def shapes(module):
    out = {}
    for name, value in vars(module).items():
        if isinstance(value, type) and value.__module__ == module.__name__:
            if dataclasses.is_dataclass(value):
                out[name] = [f.name for f in dataclasses.fields(value)]
            elif issubclass(value, enum.Enum):
                out[name] = [(m.name, m.value) for m in value]
    return out


def generated_shapes(path):
    spec = importlib.util.spec_from_file_location(f"generated_{path.parent.parent.parent.name}", path)
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    return shapes(generated)


@unittest.skipUnless(GENERATED.exists(), "no generated bindings yet (run adapters/python/build.sh once)")
class Parity(unittest.TestCase):
    def test_same_names_fields_and_enum_values(self):
        self.assertEqual(shapes(provider_types), generated_shapes(GENERATED))


@unittest.skipUnless(GENERATED_0_2.exists(), "no generated 0.2.0 bindings yet (build a 0.2.0 adapter once)")
class Parity02(unittest.TestCase):
    def test_0_1_0s_stand_ins_with_0_2_0s_changes_are_0_2_0s(self):
        merged = {**shapes(provider_types), **shapes(provider_types_v0_2)}
        self.assertEqual(merged, generated_shapes(GENERATED_0_2))


if __name__ == "__main__":
    unittest.main()
