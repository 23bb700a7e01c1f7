package seed

// Name tables. Weights are relative.

type weighted struct {
	s string
	w float64
}

// koreanSurnames: the most common surnames with their approximate share (per
// mille) of the population in the 2015 census, rounded, plus a tail of rarer
// one- and two-syllable surnames.
var koreanSurnames = []weighted{
	{"김", 215}, {"이", 147}, {"박", 84}, {"최", 47}, {"정", 43}, {"강", 24}, {"조", 21}, {"윤", 21},
	{"장", 20}, {"임", 17}, {"한", 15}, {"오", 15}, {"서", 15}, {"신", 15}, {"권", 14}, {"황", 14},
	{"안", 14}, {"송", 13}, {"전", 11}, {"홍", 11}, {"유", 11}, {"고", 9}, {"문", 9}, {"양", 9},
	{"손", 9}, {"배", 8}, {"백", 8}, {"허", 7}, {"노", 6}, {"남", 6}, {"심", 6},
	{"하", 5}, {"곽", 4}, {"성", 4}, {"차", 4}, {"주", 4}, {"우", 4}, {"구", 4}, {"민", 3},
	{"류", 3}, {"나", 3}, {"진", 3}, {"지", 3}, {"엄", 3}, {"채", 2}, {"원", 2}, {"천", 2},
	{"방", 2}, {"공", 2}, {"현", 2}, {"함", 2}, {"변", 2}, {"염", 2}, {"여", 2}, {"추", 1},
	{"도", 1}, {"소", 1}, {"석", 1}, {"선", 1}, {"설", 1}, {"마", 1}, {"길", 1}, {"연", 1},
	{"위", 1}, {"표", 1}, {"명", 1}, {"기", 1}, {"반", 1}, {"왕", 1}, {"금", 1}, {"옥", 1},
	{"육", 1}, {"인", 1}, {"맹", 1}, {"제", 1}, {"모", 1}, {"탁", 1}, {"국", 1}, {"어", 1},
	{"남궁", 0.4}, {"황보", 0.2}, {"제갈", 0.1}, {"선우", 0.1}, {"독고", 0.05}, {"사공", 0.1},
}

// givenSyllables are common syllables of Korean given names.
var givenSyllables = []string{
	"민", "서", "지", "현", "준", "우", "영", "수", "은", "진", "하", "윤", "연", "성", "혜", "경",
	"정", "재", "승", "도", "예", "주", "유", "희", "원", "상", "동", "태", "소", "다", "채", "아",
	"미", "선", "호", "훈", "석", "철", "용", "기", "광", "혁", "규", "빈", "건", "찬", "한", "나",
	"린", "율", "리", "인", "효", "솔", "보", "람", "슬", "별", "진", "명", "종", "창", "범", "환",
	"세", "형", "운", "중", "신", "병", "대", "학", "일", "숙", "자", "순", "옥", "향", "란", "화",
}

// rareSyllables are real name syllables outside the 2,350 Hangul of KS X 1001
// (the legacy EUC-KR set). Systems that only handle that set failed to
// recognise such people in 2021; every one of these is checked by a test.
var rareSyllables = []string{"똠", "햏", "뷁", "믜", "뙇", "샾", "븨", "쌰", "햟"}

// foreignNames are registered foreigners' names as written on the residence
// card: family name then given names, in capitals. Groups follow the largest
// resident nationalities (Viet Nam, China, Thailand, Uzbekistan, the
// Philippines, Nepal, Indonesia, Cambodia, Mongolia, the USA, Russia).
var foreignNames = []struct {
	w        float64
	family   []string
	middle   []string // optional middle names, chosen half of the time when present
	given    []string
	twoGiven bool // two given names (e.g. Filipino "MARIA CLARA")
}{
	{24, []string{"NGUYEN", "TRAN", "LE", "PHAM", "HOANG", "VU", "DANG", "BUI", "DO", "HO", "NGO", "DUONG"},
		[]string{"VAN", "THI", "DUC", "NGOC", "MINH"},
		[]string{"AN", "BINH", "CUONG", "DUNG", "HA", "HAI", "HUNG", "LAN", "LINH", "MAI", "NAM", "PHUONG", "QUANG", "THANH", "THAO", "TUAN", "TRANG", "VIET", "HUONG", "LONG"}, false},
	{22, []string{"WANG", "LI", "ZHANG", "LIU", "CHEN", "YANG", "ZHAO", "HUANG", "ZHOU", "WU", "XU", "SUN", "JIN", "PIAO", "CUI"},
		nil,
		[]string{"WEI", "FANG", "NA", "JING", "LEI", "YAN", "JUN", "HAO", "YING", "XIAOMING", "LILI", "JIANGUO", "MEILING", "YUNFEI", "CHUNHUA", "ZHIQIANG"}, false},
	{8, []string{"SAETANG", "CHAIYAPORN", "SRISUK", "WONGSAWAT", "BOONMA", "KAEWKLA", "SUKSAWAT"},
		nil,
		[]string{"SOMCHAI", "SOMSAK", "NATTAPONG", "SUPAPORN", "KANYA", "ANONG", "PRASERT", "WANIDA", "THANAWAT"}, false},
	{7, []string{"KARIMOV", "RAKHIMOV", "YUSUPOV", "TURSUNOV", "ALIMOVA", "KHOLMATOVA", "SAIDOV"},
		nil,
		[]string{"AZIZ", "BOBUR", "DILNOZA", "SARDOR", "JASUR", "NODIRA", "SHERZOD", "GULNORA", "OTABEK"}, false},
	{6, []string{"SANTOS", "REYES", "CRUZ", "BAUTISTA", "GARCIA", "MENDOZA", "DELA CRUZ", "RAMOS", "AQUINO"},
		nil,
		[]string{"MARIA", "JOSE", "MARK", "ANGELICA", "JOHN", "CLARA", "PAUL", "KRISTINE", "JOY", "ANTONIO"}, true},
	{5, []string{"GURUNG", "TAMANG", "SHRESTHA", "RAI", "MAGAR", "THAPA", "LAMA"},
		nil,
		[]string{"RAM", "SITA", "BIKASH", "ANITA", "SURESH", "PRAKASH", "SABINA", "DIPAK"}, false},
	{5, []string{"SARI", "PRATAMA", "SAPUTRA", "WIJAYA", "HIDAYAT", "NUGROHO", "SETIAWAN"},
		nil,
		[]string{"AGUS", "DEWI", "BUDI", "SITI", "RIZKY", "PUTRI", "ADI", "INDAH"}, false},
	{4, []string{"SOK", "CHAN", "KIM", "SENG", "HENG", "LIM", "CHHAY"},
		nil,
		[]string{"SOPHEAP", "DARA", "VANNA", "SOKHA", "BOPHA", "PISEY", "RATHA"}, false},
	{3, []string{"BATBAYAR", "GANBOLD", "ENKHBAYAR", "TSERENDORJ", "BOLD"},
		nil,
		[]string{"ANAR", "BAT-ERDENE", "SARANGEREL", "TEMUULEN", "OYUNAA", "ZOLBOO"}, false},
	{3, []string{"SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "MILLER", "DAVIS", "WILSON"},
		[]string{"LEE", "ANN", "JAMES", "MARIE"},
		[]string{"JOHN", "MICHAEL", "SARAH", "JESSICA", "DAVID", "EMILY", "DANIEL", "ASHLEY"}, false},
	{3, []string{"IVANOV", "PETROVA", "SMIRNOV", "KUZNETSOVA", "POPOV", "KIM", "PAK", "TEN"},
		nil,
		[]string{"ALEXANDR", "OLGA", "SERGEI", "IRINA", "DMITRII", "ANNA", "VIKTOR", "ELENA"}, false},
}

// Clinic names: "{prefix}{core}{kind}", e.g. "수원연세내과의원".
var clinicCores = []string{
	"중앙", "제일", "연세", "한빛", "미래", "푸른", "하나", "사랑", "열린", "밝은", "튼튼", "우리",
	"행복", "늘푸른", "참", "새봄", "365", "굿모닝", "바른", "맑은", "온누리", "가온", "다온",
	"보람", "한마음", "성모", "새희망", "믿음", "정성", "소망", "편한", "숲속", "하늘", "봄날",
}

var clinicKinds = []weighted{
	{"내과의원", 40}, {"가정의학과의원", 15}, {"소아청소년과의원", 8}, {"이비인후과의원", 10},
	{"정형외과의원", 6}, {"의원", 10}, {"내과", 4}, {"병원", 4}, {"재활의학과의원", 2}, {"산부인과의원", 1},
}

// roadNames are common road names (도로명); addresses are synthetic.
var roadNames = []string{
	"중앙로", "시청로", "번영로", "문화로", "대학로", "역전로", "평화로", "희망로", "공원로", "신흥로",
	"새마을로", "충효로", "동부로", "서부로", "남부로", "북부로", "시장로", "구청로", "학교로", "강변로",
	"산업로", "복지로", "은행로", "행복로", "상록로", "푸른로", "청춘로", "장미로", "소나무로", "해오름로",
	"한마음로", "벚꽃로", "미래로", "보건로", "광장로", "호수로", "새천년로", "하늘로",
}

// sidoPhoneArea is the telephone area code of each 시도, by KOSTAT code.
var sidoPhoneArea = map[string]string{
	"11": "02", "21": "051", "22": "053", "23": "032", "24": "062", "25": "042", "26": "052", "29": "044",
	"31": "031", "32": "033", "33": "043", "34": "041", "35": "063", "36": "061", "37": "054", "38": "055", "39": "064",
}
