"""Human labels of the embedded model's answers (issue 14), keyed by (run id, item id).

COVERAGE: one (covered, reason) per key point of the item, by KEYPOINT_COVERAGE.md.
ERRORS: (category, reason) by ERROR_CODEBOOK.md; `correct` for a fully right answer.
Labelled by reading each answer (bench/labels/gen.sh made them), before the matcher and the
pre-labeller were tuned on them. Every CMMLU and TCM-ED-A answer of these runs is a bare
`答案：X` (checked one by one), so a wrong one is an output error by the codebook.
"""

C, M = True, False

COVERAGE: dict[tuple[str, str], list[tuple[bool, str]]] = {
    ("lab-clin1", "cmb-clin/0-2"): [
        (M, "睾丸鞘膜积液 not named"), (M, "交通性鞘膜积液 not named"), (M, "精索鞘膜积液 not named"),
        (M, "隐睾 not named"), (C, "急性肠梗阻 named as a differential"),
        (M, "names 胆囊炎/肾结石/卵巢囊肿, none of 淋巴结/动静脉瘤/软组织肿瘤/脓肿/圆韧带囊肿/子宫内膜异位症")],
    ("lab-clin1", "cmb-clin/4-2"): [
        (M, "no surgery: only drugs to 'control calcium'")],
    ("lab-clin1", "cmb-clin/23-2"): [
        (C, "症状 and 体征/尿流动力学检查: 2 of 3 (subjective symptoms, objective tests)"),
        (M, "cut off at '1. **轻度': 中度/重度 not stated")],
    ("lab-clin1", "cmb-clin/23-3"): [
        (C, "盆底肌肉训练 (conservative), 药物治疗, 手术治疗: all three")],
    ("lab-clin1", "cmb-clin/26-2"): [
        (M, "新生儿胆道闭锁 drops the type 先天性"), (C, "皮肤巩膜黄染6月余"),
        (M, "neither 全身皮肤黏膜黄染 on examination nor 肝脏增大"),
        (C, "ALT/AST 升高 and 胆红素升高: 2 of 3"), (M, "no CT finding"),
        (M, "新生儿肝炎 not named (新生儿黄疸/肝功能异常 instead)"), (M, "新生儿溶血病 not named")],
    ("lab-clin1", "cmb-clin/31-1"): [
        (M, "neither 硬膜外血肿 nor 脑内血肿 of this case named"), (M, "no 双凸/梭形 CT sign of 硬膜外血肿"),
        (M, "no 新月形 CT sign of 硬膜下血肿"), (M, "no CT sign of 脑内血肿")],
    ("lab-clin1", "cmb-clin/47-3"): [
        (M, "no staging for metastases, no prompt radical orchiectomy (only a conditional '切除肿瘤'), no pathology-guided plan"),
        (M, "claims AFP/β-HCG raised (labs unremarkable); 精原细胞瘤 not named")],
    ("lab-clin1", "cmb-clin/73-1"): [
        (M, "only 'a rare malignant tumour of the scrotal epidermis': not 湿疹样癌/炎性癌, not 乳房外Paget病, not elderly (1 of 4)")],
    ("lab-ft1", "mtcmb-TCM-FT/1"): [
        (C, "'病理状态，指的是血液在经脉中停滞不流' / '流动不畅': the definition"), (M, "气滞 not stated (cut at 情绪不调)"),
        (M, "气虚 not stated"), (M, "痰浊 not stated"), (M, "寒 only in a list of 外邪 (风寒湿火): vaguer, no 血寒而凝"),
        (M, "邪热入血/煎熬津液 not stated (火 only in the list)")],
    ("lab-ft1", "mtcmb-TCM-FT/21"): [
        (M, "内燥 not named"), (C, "'津液不足…口干、咽燥、皮肤干燥': fluid deficiency leaving tissues dry"),
        (M, "久病伤阴耗液 not stated"), (M, "热邪伤阴/湿邪化燥 not stated")],
    ("lab-ft1", "mtcmb-TCM-FT/33"): [
        (M, "痰随气机游走全身 not stated"), (M, "热痰…咳嗽 is not 痰停于肺→咳喘痰鸣: vaguer"),
        (M, "痰留于心 not stated"), (M, "痰饮在胃 not stated"), (M, "眩晕 not stated"), (M, "梅核气 not stated"),
        (M, "瘰疬/痰核 not stated"), (M, "浮肿 not stated"), (M, "饮悬胸胁 not stated"), (M, "饮停膈上 not stated"),
        (M, "饮流肠胃 not stated"), (C, "'认为痰是导致各种疾病的主要因素之一': the conclusion")],
    ("lab-ft1", "mtcmb-TCM-FT/62"): [
        (M, "no 肝失疏泄 affecting 脾胃运化"), (M, "no 肝气犯脾/犯胃, 木乘土"), (M, "no 土虚木贼"),
        (M, "no 土壅木郁"), (M, "no 藏统失司"), (M, "no 脾虚→肝血虚")],
    ("lab-ft1", "mtcmb-TCM-FT/70"): [
        (M, "总督/总管 not stated"), (M, "阳脉之海/大椎交会 not stated"), (M, "调节阳经气血 not stated"),
        (M, "'位于脊柱两侧，起于肾' contradicts 贯脊 (midline) and omits 入脑: not the point")],
    ("lab-ft1", "mtcmb-TCM-FT/91"): [
        (M, "心火 not named"), (C, "'心之阳气偏盛会导致心神不宁': excess yang disturbs the spirit"),
        (M, "失眠多梦/记忆力减退 instead of over-excitement and restlessness"),
        (M, "says 血液循环不畅 from 心阳不足: contradicts 血热而脉流薄疾"), (M, "bleeding not stated")],
}

ERRORS: dict[tuple[str, str], tuple[str, str]] = {
    ("lab-cmmlu", "cmmlu-anatomy/24"): ("output_error", "bare wrong letter “答案：B” (gold D); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-anatomy/33"): ("correct", "“答案：B” is the gold letter"),
    ("lab-cmmlu", "cmmlu-anatomy/59"): ("correct", "“答案：C” is the gold letter"),
    ("lab-cmmlu", "cmmlu-anatomy/74"): ("output_error", "bare wrong letter “答案：B” (gold C); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-anatomy/141"): ("output_error", "bare wrong letter “答案：C” (gold B); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-clinical_knowledge/37"): ("output_error", "bare wrong letter “答案：D” (gold C); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-clinical_knowledge/49"): ("correct", "“答案：A” is the gold letter"),
    ("lab-cmmlu", "cmmlu-clinical_knowledge/115"): ("output_error", "bare wrong letter “答案：B” (gold D); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-clinical_knowledge/152"): ("correct", "“答案：B” is the gold letter"),
    ("lab-cmmlu", "cmmlu-clinical_knowledge/236"): ("correct", "“答案：B” is the gold letter"),
    ("lab-cmmlu", "cmmlu-college_medical_statistics/4"): ("correct", "“答案：A” is the gold letter"),
    ("lab-cmmlu", "cmmlu-college_medical_statistics/21"): ("correct", "“答案：B” is the gold letter"),
    ("lab-cmmlu", "cmmlu-college_medical_statistics/30"): ("correct", "“答案：C” is the gold letter"),
    ("lab-cmmlu", "cmmlu-college_medical_statistics/49"): ("output_error", "bare wrong letter “答案：C” (gold D); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-college_medical_statistics/93"): ("output_error", "bare wrong letter “答案：C” (gold D); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-college_medicine/28"): ("output_error", "bare wrong letter “答案：D” (gold A); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-college_medicine/49"): ("output_error", "bare wrong letter “答案：B” (gold C); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-college_medicine/58"): ("output_error", "bare wrong letter “答案：B” (gold A); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-college_medicine/60"): ("output_error", "bare wrong letter “答案：C” (gold B); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-college_medicine/109"): ("correct", "“答案：C” is the gold letter"),
    ("lab-cmmlu", "cmmlu-genetics/7"): ("correct", "“答案：C” is the gold letter"),
    ("lab-cmmlu", "cmmlu-genetics/40"): ("output_error", "bare wrong letter “答案：D” (gold B); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-genetics/72"): ("output_error", "bare wrong letter “答案：C” (gold B); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-genetics/101"): ("correct", "“答案：C” is the gold letter"),
    ("lab-cmmlu", "cmmlu-genetics/133"): ("output_error", "bare wrong letter “答案：B” (gold A); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-nutrition/76"): ("correct", "“答案：B” is the gold letter"),
    ("lab-cmmlu", "cmmlu-nutrition/81"): ("output_error", "bare wrong letter “答案：D” (gold A); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-nutrition/116"): ("output_error", "bare wrong letter “答案：C” (gold B); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-nutrition/138"): ("output_error", "bare wrong letter “答案：A” (gold D); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-nutrition/143"): ("output_error", "bare wrong letter “答案：C” (gold D); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-professional_medicine/108"): ("output_error", "bare wrong letter “答案：D” (gold A); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-professional_medicine/172"): ("output_error", "bare wrong letter “答案：A” (gold D); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-professional_medicine/174"): ("output_error", "bare wrong letter “答案：B” (gold A); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-professional_medicine/234"): ("output_error", "bare wrong letter “答案：C” (gold D); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-professional_medicine/346"): ("output_error", "bare wrong letter “答案：A” (gold B); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-traditional_chinese_medicine/31"): ("correct", "“答案：D” is the gold letter"),
    ("lab-cmmlu", "cmmlu-traditional_chinese_medicine/40"): ("correct", "“答案：B” is the gold letter"),
    ("lab-cmmlu", "cmmlu-traditional_chinese_medicine/41"): ("correct", "“答案：C” is the gold letter"),
    ("lab-cmmlu", "cmmlu-traditional_chinese_medicine/46"): ("output_error", "bare wrong letter “答案：D” (gold B); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-traditional_chinese_medicine/51"): ("output_error", "bare wrong letter “答案：D” (gold A); no reasoning, no fact stated"),
    ("lab-cmmlu", "cmmlu-virology/6"): ("correct", "“答案：B” is the gold letter"),
    ("lab-cmmlu", "cmmlu-virology/35"): ("correct", "“答案：A” is the gold letter"),
    ("lab-cmmlu", "cmmlu-virology/94"): ("correct", "“答案：D” is the gold letter"),
    ("lab-cmmlu", "cmmlu-virology/102"): ("correct", "“答案：A” is the gold letter"),
    ("lab-cmmlu", "cmmlu-virology/122"): ("correct", "“答案：B” is the gold letter"),
    ("lab-eda", "mtcmb-TCM-ED-A/22"): ("output_error", "bare wrong letter “答案：E” (gold A); no reasoning, no fact stated"),
    ("lab-eda", "mtcmb-TCM-ED-A/129"): ("output_error", "bare wrong letter “答案：C” (gold A); no reasoning, no fact stated"),
    ("lab-eda", "mtcmb-TCM-ED-A/180"): ("output_error", "bare wrong letter “答案：C” (gold B); no reasoning, no fact stated"),
    ("lab-eda", "mtcmb-TCM-ED-A/436"): ("correct", "“答案：C” is the gold letter"),
    ("lab-eda", "mtcmb-TCM-ED-A/449"): ("correct", "“答案：B” is the gold letter"),
    ("lab-eda", "mtcmb-TCM-ED-A/493"): ("output_error", "bare wrong letter “答案：D” (gold B); no reasoning, no fact stated"),
    ("lab-clin1", "cmb-clin/0-2"): ("hallucination", "says 急性阑尾炎 presents with a mass above the inguinal ligament and a raised white count (case: WBC 5.0): false, unsupported facts"),
    ("lab-clin1", "cmb-clin/23-2"): ("output_error", "cut off at the 250-token limit at '1. **轻度', before the classification is given"),
    ("lab-clin1", "cmb-clin/23-3"): ("correct", "names conservative training, drugs and surgery: every point of the reference"),
    ("lab-clin1", "cmb-clin/26-2"): ("contextual_inconsistency", "contradicts itself: '间接胆红素和直接胆红素水平正常，间接胆红素水平升高', '肌酐水平正常，但肾功能不全'"),
    ("lab-clin1", "cmb-clin/31-1"): ("hallucination", "generic text inventing a '单纯性/混合性/复杂性血肿' typology by cell content; the case's haematomas never named"),
    ("lab-clin1", "cmb-clin/47-3"): ("contextual_inconsistency", "'由于AFP和β-HCG水平较高' contradicts the case (AFP 15 ng/ml, β-HCG 3)"),
    ("lab-clin1", "cmb-clin/73-1"): ("omission", "describes Paget-cell histology acceptably but omits 乳房外Paget病/湿疹样癌 and the elderly patient"),
    ("lab-ft1", "mtcmb-TCM-FT/1"): ("omission", "defines 血瘀 acceptably but lists 血行不畅/气血不和/外邪/饮食/情绪 instead of 气滞、气虚、痰浊、寒凝、热瘀"),
    ("lab-ft1", "mtcmb-TCM-FT/21"): ("hallucination", "calls 津伤化燥 '关于…燥热症状的治疗方法' (a pathology, not a treatment) and gives 过度运动/饮食不节 as its causes"),
    ("lab-ft1", "mtcmb-TCM-FT/33"): ("omission", "talks about how phlegm forms (diet, habits) and its natures; none of the organ-by-organ manifestations that ground the saying"),
    ("lab-ft1", "mtcmb-TCM-FT/62"): ("hallucination", "'肝…分泌多种激素，如胆汁、维生素D、催乳素': false physiology, and Western liver disease instead of the TCM mechanisms"),
    ("lab-ft1", "mtcmb-TCM-FT/70"): ("hallucination", "'位于人体的脊柱两侧，起于肾，止于尾骨，全长约180厘米': invented anatomy"),
    ("lab-ft1", "mtcmb-TCM-FT/91"): ("causal_reasoning_deficiency", "'阳气偏盛可能导致心阳不足，进而影响到血液的生成和运行': excess reasoned into deficiency"),
    ("lab-sea1", "mtcmb-TCM-SE-A/15"): ("correct", "'3克' = 3g"),
    ("lab-sea1", "mtcmb-TCM-SE-A/25"): ("hallucination", "'用量为10克，需去皮' where 1～2g and 去壳、油: a false dose"),
    ("lab-sea1", "mtcmb-TCM-SE-A/29"): ("omission", "'具有较强的毒性，对胎儿有不良影响': right but vaguer than 可致胎儿畸形"),
    ("lab-sea1", "mtcmb-TCM-SE-A/33"): ("omission", "'白果毒素' names the ginkgotoxin; 白果酸 missing"),
    ("lab-sea1", "mtcmb-TCM-SE-A/41"): ("hallucination", "'拔针' where 提插 is the forbidden manipulation"),
    ("lab-sea1", "mtcmb-TCM-SE-A/42"): ("hallucination", "'10-20克' where 3～6g: a false dose"),
    ("lab-sea1", "mtcmb-TCM-SE-A/47"): ("hallucination", "'子宫、卵巢、输卵管、肾等穴位': organs given as acupoints"),
    ("lab-sea1", "mtcmb-TCM-SE-A/49"): ("hallucination", "'上' where 鼻尖: a false needling direction"),
    ("lab-clin1", "cmb-clin/4-2"): ("hallucination", "treats hypercalcaemia with vitamin D and calcium supplements and an invented '钙通道阻滞剂（如氨苯磺酸）': false drug facts"),
}
