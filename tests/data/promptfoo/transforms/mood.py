def get_transform(vars, context):
    return {"mood": vars["mood"].upper()}
