package dev.lattice.data.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Expected text and hashes are Python 3 {@code json.dumps(d, indent=4)} and {@code hashlib.md5(t.encode())} of the
 * OrderedDict Megatron builds (key order class, dataset_path, num_samples, index_split, random_seed,
 * sequence_length, split, split_matrix, tokenizer, add_extra_token_to_sequence), with split_matrix from Megatron's
 * {@code convert_split_vector_to_split_matrix}.
 */
class PythonJsonTest {

    private static final String TRAIN_DESCRIPTION = String.join("\n",
            "{",
            "    \"class\": \"GPTDataset\",",
            "    \"dataset_path\": \"/data/corpus_text_document\",",
            "    \"num_samples\": 256000,",
            "    \"index_split\": \"train\",",
            "    \"random_seed\": 1234,",
            "    \"sequence_length\": 1024,",
            "    \"split\": \"969,30,1\",",
            "    \"split_matrix\": [",
            "        [",
            "            0,",
            "            0.969",
            "        ],",
            "        [",
            "            0.969,",
            "            0.999",
            "        ],",
            "        [",
            "            0.999,",
            "            1.0",
            "        ]",
            "    ],",
            "    \"tokenizer\": {",
            "        \"class\": \"_GPT2BPETokenizer\",",
            "        \"tokenizer_path\": [",
            "            \"/data/gpt2-vocab.json\",",
            "            \"/data/gpt2-merges.txt\"",
            "        ]",
            "    },",
            "    \"add_extra_token_to_sequence\": true",
            "}");

    static Map<String, Object> gpt2Tokenizer() {
        Map<String, Object> tok = new LinkedHashMap<>();
        tok.put("class", "_GPT2BPETokenizer");
        tok.put("tokenizer_path", List.of("/data/gpt2-vocab.json", "/data/gpt2-merges.txt"));
        return tok;
    }

    static GptDatasetDescription trainDescription() {
        return GptDatasetDescription.of("/data/corpus_text_document", Split.TRAIN, SplitSpec.parse("969,30,1"),
                GptSampleIndex.Params.of(1024, 256000L, 1234), gpt2Tokenizer());
    }

    @Test
    void gptDescriptionTextAndHashMatchPython() {
        GptDatasetDescription d = trainDescription();
        assertEquals(TRAIN_DESCRIPTION, d.toJson());
        assertEquals("aed780753486c1fce06e8d7c424e717f", d.md5Hex());
        assertEquals("aed780753486c1fce06e8d7c424e717f-GPTDataset-train", d.baseName());
    }

    @Test
    void escapingNullsEmptyContainersAndFalseMatchPython() {
        GptDatasetDescription d = new GptDatasetDescription("/data/k\u00f6rpus \"q\"\t\uD83D\uDE00", null, Split.VALID,
                1234, 1024, "1", SplitSpec.parse("1").matrixForDescription(), new LinkedHashMap<>(), false);
        String expected = String.join("\n",
                "{",
                "    \"class\": \"GPTDataset\",",
                "    \"dataset_path\": \"/data/k\\u00f6rpus \\\"q\\\"\\t\\ud83d\\ude00\",",
                "    \"num_samples\": null,",
                "    \"index_split\": \"valid\",",
                "    \"random_seed\": 1234,",
                "    \"sequence_length\": 1024,",
                "    \"split\": \"1\",",
                "    \"split_matrix\": [",
                "        [",
                "            0,",
                "            1.0",
                "        ],",
                "        null,",
                "        null",
                "    ],",
                "    \"tokenizer\": {},",
                "    \"add_extra_token_to_sequence\": false",
                "}");
        assertEquals(expected, d.toJson());
        assertEquals("3f6dba784b26597bcaceff9ff6391a98", d.md5Hex());
        assertEquals("[]", PythonJson.dumps(List.of()));
    }

    @Test
    void floatReprMatchesPython() {
        // [repr(x) for x in [...]] in CPython 3.
        double[] values = {0.1, 1e-05, 0.0001, 1e16, 1.5e16, 1e15, 123456789.125, -0.0, 0.9990000000000001, 5e-324,
            1.7976931348623157e308, 100.0, 1e22, 2.5e-07, 0.30000000000000004, 1.0 / 3};
        String[] expected = {"0.1", "1e-05", "0.0001", "1e+16", "1.5e+16", "1000000000000000.0", "123456789.125",
            "-0.0", "0.9990000000000001", "5e-324", "1.7976931348623157e+308", "100.0", "1e+22", "2.5e-07",
            "0.30000000000000004", "0.3333333333333333"};
        for (int i = 0; i < values.length; i++) {
            assertEquals(expected[i], PythonJson.floatRepr(values[i]), "value " + values[i]);
        }
        assertEquals("[\n    1,\n    2.5e-07,\n    NaN\n]", PythonJson.dumps(Arrays.asList(1, 2.5e-07, Double.NaN)));
    }
}
