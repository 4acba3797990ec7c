"""Every write of the intake app: questionnaire definitions, patient links, answers, decisions."""
