from vocabfree.vqa.derive import derive_qa_pairs


def _pairs(image, captions):
    return [(image, c) for c in captions]


def test_colour_count_activity_place_and_sport():
    caps = [
        "A black dog is running on the grass .",
        "Two black dogs are running on the grass .",
        "Two dogs running in a field",
        "A black dog runs on the grass",
        "Two dogs play soccer",
    ]
    got = {(p.question, p.answer) for p in derive_qa_pairs(_pairs("x.jpg", caps))}
    assert ("What color is the dog?", "black") in got
    assert ("How many dogs are there?", "2") in got  # "two dogs" (3 votes) beats "a dog" (2)
    assert ("What is the dog doing?", "running") in got
    assert ("Where is the dog?", "grass") in got
    assert ("What sport is this?", "soccer") in got
    assert ("What animal is this?", "dog") in got
    assert ("Is there a dog in the picture?", "yes") in got


def test_presence_negatives_balance_positives_and_are_absent():
    caps = ["A man rides a bike .", "A man on a bicycle ."]
    pairs = [p for p in derive_qa_pairs(_pairs("y.jpg", caps)) if p.kind == "presence"]
    yes = [p for p in pairs if p.answer == "yes"]
    no = [p for p in pairs if p.answer == "no"]
    assert len(yes) == len(no) > 0
    for p in no:  # never a mentioned object, a person (a man is there) or clothing
        assert not any(w in p.question for w in ("man ", "bike", "bicycle", "woman", "boy", "shirt"))


def test_disagreeing_colours_give_no_question_and_output_is_deterministic():
    caps = ["A red car .", "A blue car .", "A car ."]
    a = derive_qa_pairs(_pairs("z.jpg", caps), seed=3)
    assert not [p for p in a if p.kind == "colour"]
    assert a == derive_qa_pairs(_pairs("z.jpg", caps), seed=3)
