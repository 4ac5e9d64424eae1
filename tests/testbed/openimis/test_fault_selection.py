"""openIMIS stand-in: faults selected by body substring (`contains`) and by chance
(`probability`, `seed`)."""
import json

from .standin_harness import StandInTestCase


def gql(query):
    return {"query": query, "variables": {}}


CREATE = gql("mutation mflsyncWrite($input: CreateHealthFacilityMutationInput!) {"
             " createHealthFacility(input: $input) { clientMutationId } }")
INDEX = gql("query mflsyncFacilities($first: Int) { healthFacilities(first: $first) {"
            " edges { node { code } } } }")
POLL = gql("query mflsyncOutcomes($id: String!) { mutationLogs(clientMutationId: $id) {"
           " edges { node { status } } } healthFacilities(code: \"X\", first: 10) {"
           " edges { node { code } } } }")


class FaultSelectionTest(StandInTestCase):
    def post_graphql(self, body):
        return self.c.request("POST", "/api/graphql", body)[0]

    def test_contains_selects_graphql_operations(self):
        self.c.faults({"kind": "status", "status": 503, "path": "/api/graphql",
                       "contains": "createHealthFacility", "times": -1})
        self.assertNotEqual(self.post_graphql(INDEX), 503)
        self.assertNotEqual(self.post_graphql(POLL), 503)
        self.assertEqual(self.post_graphql(CREATE), 503)
        self.assertEqual(self.post_graphql(CREATE), 503)
        self.c.request("DELETE", "/$testbed/faults", token=False)
        # a list matches any of its strings; the index read, not the poll that
        # also names healthFacilities
        self.c.faults({"kind": "status", "status": 503, "times": -1,
                       "contains": ["query mflsyncFacilities", "query mflsyncAreas"]})
        self.assertEqual(self.post_graphql(INDEX), 503)
        self.assertNotEqual(self.post_graphql(POLL), 503)
        self.assertNotEqual(self.post_graphql(CREATE), 503)

    def test_contains_validation(self):
        for bad in ("", [], [""], 5):
            status, out, _ = self.c.request("POST", "/$testbed/faults",
                                            [{"kind": "status", "contains": bad}], token=False)
            self.assertEqual(status, 400, bad)
            self.assertIn("contains", out["error"])

    def fired_pattern(self, seed, n=200):
        self.c.request("DELETE", "/$testbed/faults", token=False)
        self.c.faults({"kind": "status", "status": 503, "path": "/api/graphql",
                       "contains": "createHealthFacility", "probability": 0.3, "seed": seed,
                       "times": -1})
        pattern = []
        for _ in range(n):
            self.assertNotEqual(self.post_graphql(INDEX), 503)   # not matching: no roll
            pattern.append(self.post_graphql(CREATE) == 503)
        return pattern

    def test_probability_fires_on_about_that_share_reproducibly(self):
        first = self.fired_pattern(seed=11)
        self.assertTrue(40 <= sum(first) <= 80, sum(first))
        self.assertEqual(self.fired_pattern(seed=11), first)
        self.assertNotEqual(self.fired_pattern(seed=12), first)
        # the pending fault shows its settings, not its RNG
        snap = self.c.request("GET", "/$testbed/faults", token=False)[1]
        json.dumps(snap)
        self.assertEqual((snap["pending"][0]["probability"], snap["pending"][0]["seed"]), (0.3, 12))

    def test_probability_counts_times_only_when_fired(self):
        self.c.faults({"kind": "status", "status": 503, "method": "GET", "path": "Location/",
                       "probability": 0.5, "seed": 3, "times": 2})
        answers = [self.c.request("GET", "Location/")[0] for _ in range(40)]
        self.assertEqual(answers.count(503), 2)
        self.assertEqual(answers.count(200), 38)

    def test_probability_validation(self):
        for bad in (-0.1, 1.5, "often"):
            status, _, _ = self.c.request("POST", "/$testbed/faults",
                                          [{"kind": "status", "probability": bad}], token=False)
            self.assertEqual(status, 400, bad)
