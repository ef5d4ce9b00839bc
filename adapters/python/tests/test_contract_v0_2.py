"""Contract 0.1.0 builds refuse what only 0.2.0 carries, naming the fix;
the 0.2.0 cases (contract_v0_2_cases.py) run in a process of their own,
whose stand-ins are 0.2.0's (HANDOVER_CONTRACT=0.2.0)."""

import _setup
import os
import subprocess
import sys
import unittest

from handover_sdk import contract, describe, v0_2


class Contract01(unittest.TestCase):
    def test_0_2_features_name_the_fix_in_a_0_1_build(self):
        self.assertEqual(contract.VERSION, "0.1.0")
        for build in (lambda: v0_2.quick_reply("a", "b"),
                      lambda: v0_2.returned_to_bot({}),
                      lambda: describe.capabilities(user_typing=True),
                      lambda: describe.info("p", "1", ["webchat"], needs_egress=["{base_url}"])):
            with self.assertRaises(TypeError) as e:
                build()
            self.assertIn("CONTRACT file", str(e.exception))


class Contract02(unittest.TestCase):
    def test_the_0_2_cases_pass_under_0_2_stand_ins(self):
        env = dict(os.environ, HANDOVER_CONTRACT="0.2.0", PYTHONDONTWRITEBYTECODE="1")
        run = subprocess.run([sys.executable, "-m", "unittest", "-q", "contract_v0_2_cases"],
                             cwd=_setup.HERE, env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("Ran 4 tests", run.stderr)


if __name__ == "__main__":
    unittest.main()
