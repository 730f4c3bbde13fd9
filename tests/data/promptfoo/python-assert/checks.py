def get_assert(output, context):
    return context["vars"]["n"] in output


def mentions_five(output, context):
    return {"pass": "5" in output, "score": 1.0 if "5" in output else 0.0, "reason": "looked for 5"}
